import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '@p3/protocol';
import { JwtAuthenticator } from '@p3/gateway';
import { P3Server } from '@p3/server';
import { mintToken, testJwtSecret } from '@p3/test-support';
import { MainProcess } from './support/main-process.js';

const issuer = 'https://auth.example.com';
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function bootstrap(port: number, room: string, token: string): Promise<[number, unknown]> {
  const response = await fetch(`http://127.0.0.1:${port}/v1/rooms/${room}/bootstrap`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return [response.status, await response.json()];
}

describe('[START-6] the token issuer (P3_JWT_ISSUER)', () => {
  it('JwtAuthenticator with an issuer refuses tokens of another issuer, and without one, with a reason', async () => {
    const auth = new JwtAuthenticator({ secret: testJwtSecret, audience: 'p3', issuer });
    expect(await auth.authenticate(await mintToken({ issuer }), undefined)).toEqual({
      ok: true,
      value: { user: 'ann', team: 'blue' },
    });
    for (const token of [await mintToken({ issuer: 'https://evil.example.com' }), await mintToken()]) {
      const result = await auth.authenticate(token, undefined);
      expect(result.ok).toBe(false);
      if (!result.ok) {
        expect(result.error.code).toBe(ErrorCode.Unauthorized);
        expect(result.error.message).toBe('token has the wrong issuer');
      }
    }
  });

  it('P3Server answers a token of another issuer with 401 and the reason', async () => {
    const server = new P3Server({
      port: 0,
      host: '127.0.0.1',
      storage: 'memory',
      logLevel: 'silent',
      auth: new JwtAuthenticator({ secret: testJwtSecret, audience: 'p3', issuer }),
    });
    cleanups.push(() => server.close());
    await server.listen();
    expect(
      await bootstrap(server.port, 'iss-doc', await mintToken({ issuer: 'https://evil.example.com' })),
    ).toEqual([401, { code: ErrorCode.Unauthorized, reason: 'token has the wrong issuer' }]);
    expect((await bootstrap(server.port, 'iss-doc', await mintToken({ issuer })))[0]).toBe(200);
  });

  it('npm start passes P3_JWT_ISSUER to the authenticator', async () => {
    const server = MainProcess.start({
      P3_STORAGE: 'memory',
      P3_PORT: '0',
      P3_JWT_SECRET: testJwtSecret,
      P3_JWT_ISSUER: issuer,
    });
    cleanups.push(async () => server.kill());
    const port = await server.port();
    expect(await bootstrap(port, 'iss-doc', await mintToken({ issuer: 'https://evil.example.com' }))).toEqual(
      [401, { code: ErrorCode.Unauthorized, reason: 'token has the wrong issuer' }],
    );
    expect((await bootstrap(port, 'iss-doc', await mintToken({ issuer })))[0]).toBe(200);
    await server.stop();
  });
});
