import { errors, jwtVerify } from 'jose';
import { ErrorCode, fail, ok, type Result } from '@p3/protocol';
import type { Principal, RoomKey } from '@p3/runtime';
import type { Authenticator } from './auth.js';

/** The shortest accepted JWT secret, in UTF-8 bytes (the HS256 hash size). */
export const minJwtSecretBytes = 32;

export interface JwtAuthenticatorOptions {
  /** Shared HMAC secret (HS256/384/512), at least `minJwtSecretBytes` (32) bytes. */
  readonly secret: string;
  /** Required `aud` claim. */
  readonly audience: string;
  /** Required `iss` claim, when set. */
  readonly issuer?: string;
  /** Seconds of clock skew accepted on exp/nbf. Default 5. */
  readonly clockToleranceSeconds?: number;
}

/**
 * Client tokens (seed 002: "a custom JWT with a username and team"): HMAC-signed JWTs carrying `username`
 * (or `sub`) and `team`, for one audience. `alg: none` and other algorithms are refused, as are expired tokens,
 * bad signatures and other audiences; each failure says why.
 */
export class JwtAuthenticator implements Authenticator {
  private readonly key: Uint8Array;

  constructor(private readonly options: JwtAuthenticatorOptions) {
    this.key = new TextEncoder().encode(options.secret);
    // RFC 7518 3.2: an HS256 key must be at least as long as the hash (32 bytes); shorter ones are guessable.
    if (this.key.length < minJwtSecretBytes)
      throw new RangeError(
        `the JWT secret has ${this.key.length} bytes: HS256 needs at least ${minJwtSecretBytes}`,
      );
  }

  /** From `jwtConfigFromEnv`: undefined (anonymous access) when no secret is configured. */
  static fromConfig(
    config:
      { readonly secret: string; readonly audience: string; readonly issuer: string | undefined } | undefined,
  ): JwtAuthenticator | undefined {
    if (config === undefined) return undefined;
    const { secret, audience, issuer } = config;
    return new JwtAuthenticator({ secret, audience, ...(issuer === undefined ? {} : { issuer }) });
  }

  async authenticate(
    token: string | undefined,
    _room: RoomKey | undefined,
  ): Promise<Result<Principal | undefined>> {
    if (token === undefined || token === '')
      return fail(ErrorCode.Unauthorized, 'a bearer token is required');
    try {
      const { payload } = await jwtVerify(token, this.key, {
        algorithms: ['HS256', 'HS384', 'HS512'],
        audience: this.options.audience,
        ...(this.options.issuer === undefined ? {} : { issuer: this.options.issuer }),
        clockTolerance: this.options.clockToleranceSeconds ?? 5,
        requiredClaims: ['exp'],
      });
      const user = typeof payload.username === 'string' ? payload.username : payload.sub;
      const team = payload.team;
      if (typeof user !== 'string' || user === '' || typeof team !== 'string' || team === '') {
        return fail(ErrorCode.Unauthorized, 'the token must carry a username (or sub) and a team');
      }
      return ok({ user, team });
    } catch (error) {
      return fail(ErrorCode.Unauthorized, reasonOf(error));
    }
  }
}

function reasonOf(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'token expired';
  if (error instanceof errors.JOSEAlgNotAllowed) return 'token algorithm not allowed (HS256/384/512 only)';
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'token signature is invalid';
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'aud') return 'token is for another audience';
    if (error.claim === 'iss') return 'token has the wrong issuer';
    if (error.claim === 'nbf') return 'token is not valid yet';
    return `token claim "${error.claim}" is invalid`;
  }
  if (error instanceof errors.JOSEError) return 'token is malformed';
  return 'token is invalid';
}
