import { SignJWT } from 'jose';

export const testJwtSecret = 'test-secret-that-is-long-enough-0123456789';

export interface TokenOptions {
  readonly username?: string;
  readonly team?: string;
  readonly audience?: string;
  /** The `iss` claim; none when omitted. */
  readonly issuer?: string;
  readonly secret?: string;
  /** Seconds from now; negative for an expired token. Default 3600. */
  readonly expiresIn?: number;
}

/** An HS256 client token as the managed service would mint it (username + team). */
export async function mintToken(options: TokenOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({ username: options.username ?? 'ann', team: options.team ?? 'blue' });
  if (options.issuer !== undefined) jwt.setIssuer(options.issuer);
  return jwt
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt(now - 60)
    .setExpirationTime(now + (options.expiresIn ?? 3600))
    .setAudience(options.audience ?? 'p3')
    .sign(new TextEncoder().encode(options.secret ?? testJwtSecret));
}

/** An unsigned token (`alg: none`) with valid-looking claims: must always be refused. */
export function unsignedToken(
  claims: Record<string, unknown> = { username: 'ann', team: 'blue', aud: 'p3' },
): string {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${encode({ alg: 'none', typ: 'JWT' })}.${encode({ exp: Math.floor(Date.now() / 1000) + 3600, ...claims })}.`;
}
