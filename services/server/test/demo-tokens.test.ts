import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '@p3/runtime';
import { JwtAuthenticator } from '@p3/gateway';
import { P3Client } from '@p3/client';
import { testJwtSecret } from '@p3/test-support';
import { P3Server, arenaWorld, serverConfigFromEnv } from '@p3/server';
import { demoTokenEndpoint, type DemoTokenResponse } from '@p3/gateway';

const servers: P3Server[] = [];
const clients: P3Client[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.disconnect()));
  for (const s of servers.splice(0)) await s.close();
});

/** A server that requires tokens, with or without the demo token endpoint. */
async function tokenServer(demoTokens: boolean): Promise<P3Server> {
  const server = new P3Server({
    port: 0,
    host: '127.0.0.1',
    instanceId: 'arena',
    world: arenaWorld,
    storage: 'memory',
    logLevel: 'silent',
    auth: new JwtAuthenticator({ secret: testJwtSecret, audience: 'p3' }),
    ...(demoTokens
      ? { extensions: [demoTokenEndpoint({ secret: testJwtSecret, audience: 'p3', ttlSeconds: 600 })] }
      : {}),
  });
  servers.push(await server.listen());
  return server;
}

describe('demo tokens', () => {
  it('[DEMO-2] /demo/token mints a short-lived token for the chosen name and team, and the server accepts it', async () => {
    const server = await tokenServer(true);
    const answer = await fetch(`http://127.0.0.1:${server.port}/demo/token?name=ann%20b&team=blue`);
    expect(answer.status).toBe(200);
    expect(answer.headers.get('cache-control')).toBe('no-store');
    const body = (await answer.json()) as DemoTokenResponse;
    expect(body).toMatchObject({ user: 'ann b', team: 'blue' });
    expect(Math.abs(body.expiresAt - (Date.now() / 1000 + 600))).toBeLessThan(5);

    const refused = new P3Client({
      host: '127.0.0.1',
      port: server.port,
      instanceId: 'arena',
      autoConnect: false,
    });
    clients.push(refused);
    await expect(refused.connect()).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    const p3 = new P3Client({ host: '127.0.0.1', port: server.port, instanceId: 'arena', token: body.token });
    clients.push(p3);
    await p3.connect();
    expect(p3.connected).toBe(true);
  });

  it('[DEMO-2] refuses names and teams the page could not show, with a code and a reason', async () => {
    const server = await tokenServer(true);
    for (const query of ['name=%3Cscript%3E', `name=${'x'.repeat(25)}`, 'team=a%2Fb']) {
      const answer = await fetch(`http://127.0.0.1:${server.port}/demo/token?${query}`);
      expect(answer.status, query).toBe(400);
      expect(await answer.json()).toMatchObject({
        code: 'INVALID_MESSAGE',
        reason: expect.stringMatching(/name: 1-24/),
      });
    }
  });

  it('[DEMO-2] is off unless enabled: P3_DEMO_TOKENS defaults to false, and without it there is no endpoint', async () => {
    expect(serverConfigFromEnv({}).demoTokens).toBe(false);
    expect(serverConfigFromEnv({ P3_DEMO_TOKENS: 'true', P3_JWT_SECRET: testJwtSecret }).demoTokens).toBe(
      true,
    );
    expect(() => serverConfigFromEnv({ P3_DEMO_TOKENS: 'maybe' })).toThrow(ConfigError);
    const server = await tokenServer(false);
    const answer = await fetch(`http://127.0.0.1:${server.port}/demo/token?name=ann&team=blue`);
    expect(answer.status).toBe(404);
  });
});
