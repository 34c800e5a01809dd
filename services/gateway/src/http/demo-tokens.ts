import { createHmac } from 'node:crypto';
import { ErrorCode, P3Error } from '@p3/protocol';
import type { GatewayExtension } from '../gateway.js';
import { sendError } from './http-errors.js';
import { sendJson } from './http-response.js';

export interface DemoTokenOptions {
  /** The server's `P3_JWT_SECRET`. */
  readonly secret: string;
  readonly audience: string;
  readonly issuer?: string | undefined;
  /** Lifetime of a token. Default 3600 s. */
  readonly ttlSeconds?: number;
  /** Wall clock in ms (tests). Default `Date.now`. */
  readonly now?: () => number;
}

/** What `/demo/token` answers. */
export interface DemoTokenResponse {
  readonly token: string;
  readonly user: string;
  readonly team: string;
  /** Unix seconds. */
  readonly expiresAt: number;
}

/** Letters, digits, space, `_ . -`: the demo draws the name, and a player's `name` field holds 24 characters. */
const namePattern = /^[A-Za-z0-9 _.-]{1,24}$/;
const teamPattern = /^[A-Za-z0-9_.-]{1,32}$/;

/**
 * `GET /demo/token?name=ann&team=blue` mints a short-lived client token for any name and team: the development
 * path that lets the demo page join a server started with `P3_JWT_SECRET` (`P3_DEMO_TOKENS=true`). Anyone who can
 * reach it gets a token, so it is never on by default; production backends mint tokens for users they know
 * (`scripts/mint-token.ts` shows the claims). Refusals: 400 `INVALID_MESSAGE` with a reason.
 *
 * @example
 * new P3Server({ auth, extensions: [demoTokenEndpoint({ secret, audience: 'p3' })] });
 */
export function demoTokenEndpoint(options: DemoTokenOptions): GatewayExtension {
  const ttl = options.ttlSeconds ?? 3600;
  const now = options.now ?? Date.now;
  return {
    register(app) {
      app.get('/demo/token', (res, req) => {
        const user = req.getQuery('name') || 'guest';
        const team = req.getQuery('team') || 'demo';
        if (!namePattern.test(user) || !teamPattern.test(team)) {
          sendError(
            res,
            undefined,
            new P3Error(
              ErrorCode.InvalidMessage,
              'name: 1-24 letters, digits, spaces, _ . -; team: 1-32 letters, digits, _ . -',
            ),
          );
          return;
        }
        const issuedAt = Math.floor(now() / 1000);
        const expiresAt = issuedAt + ttl;
        const token = signHs256(
          {
            username: user,
            team,
            aud: options.audience,
            ...(options.issuer === undefined ? {} : { iss: options.issuer }),
            iat: issuedAt,
            exp: expiresAt,
          },
          options.secret,
        );
        const body: DemoTokenResponse = { token, user, team, expiresAt };
        sendJson(res, undefined, '200 OK', body, { 'cache-control': 'no-store' });
      });
    },
  };
}

/** An HS256 JWT (the algorithm `JwtAuthenticator` accepts first). */
function signHs256(claims: Record<string, string | number>, secret: string): string {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const unsigned = `${encode({ alg: 'HS256', typ: 'JWT' })}.${encode(claims)}`;
  const signature = createHmac('sha256', secret).update(unsigned).digest('base64url');
  return `${unsigned}.${signature}`;
}
