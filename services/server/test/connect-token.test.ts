import { afterEach, describe, expect, it } from 'vitest';
import { CloseCode, ErrorCode, PROTOCOL_VERSION } from '@p3/protocol';
import { JwtAuthenticator } from '@p3/gateway';
import { P3Server } from '@p3/server';
import { RawClient, mintToken, testJwtSecret } from '@p3/test-support';

const servers: P3Server[] = [];
const clients: RawClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of servers.splice(0)) await s.close();
});

async function start(): Promise<P3Server> {
  const server = new P3Server({
    port: 0,
    host: '127.0.0.1',
    instanceId: 'tokens',
    storage: 'memory',
    logLevel: 'silent',
    auth: new JwtAuthenticator({ secret: testJwtSecret, audience: 'p3' }),
  });
  servers.push(await server.listen());
  return server;
}

async function open(server: P3Server, query = ''): Promise<RawClient> {
  const client = await RawClient.open(`ws://127.0.0.1:${server.port}/v1/connect${query}`);
  clients.push(client);
  return client;
}

const join = (clientId: string, token?: string) => ({
  type: 'join' as const,
  protocolVersion: PROTOCOL_VERSION,
  room: 'tokens',
  clientId,
  sessionStamp: 1,
  ...(token === undefined ? {} : { token }),
});

describe('/v1/connect tokens', () => {
  it('[AUTH-1] accepts the bearer token as ?token= on the upgrade, like /ecs-sync and SSE', async () => {
    const server = await start();
    const token = await mintToken({ username: 'ann', team: 'blue' });
    const client = await open(server, `?token=${encodeURIComponent(token)}`);
    client.send(join('ann'));
    const welcome = await client.next('welcome');
    expect(welcome.room).toBe('tokens');
    expect(client.closeCode).toBeUndefined();
  });

  it('[AUTH-1] still refuses a join without any token (4101), and a bad ?token=', async () => {
    const server = await start();
    const bare = await open(server);
    bare.send(join('nobody'));
    expect((await bare.closed()).code).toBe(CloseCode.Unauthorized);
    expect((await bare.next('error')).code).toBe(ErrorCode.Unauthorized);
    const forged = await open(server, '?token=not-a-jwt');
    forged.send(join('forger'));
    expect((await forged.closed()).code).toBe(CloseCode.Unauthorized);
  });

  it('[AUTH-1] join.token takes precedence over the upgrade token', async () => {
    const server = await start();
    const good = await mintToken({ username: 'bob', team: 'blue' });
    const client = await open(server, '?token=not-a-jwt');
    client.send(join('bob', good));
    await client.next('welcome');
  });
});
