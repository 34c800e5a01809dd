import { afterEach, describe, expect, it } from 'vitest';
import { CloseCode, PROTOCOL_VERSION } from '@p3/protocol';
import { P3Server } from '@p3/server';
import { RawClient, waitFor } from '@p3/test-support';

const servers: P3Server[] = [];
const clients: RawClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of servers.splice(0)) await s.close();
});

const graceMs = 300;

async function join(server: P3Server, stamp: number): Promise<RawClient> {
  const client = await RawClient.open(`ws://127.0.0.1:${server.port}/v1/connect`);
  clients.push(client);
  client.send({
    type: 'join',
    protocolVersion: PROTOCOL_VERSION,
    room: 'lobby',
    clientId: 'ann',
    sessionStamp: stamp,
  });
  return client;
}

describe('resuming a session over real sockets', () => {
  it('[ROOM-4] a client that reconnects while its old socket is still open keeps its entities and ops past the grace period', async () => {
    const server = new P3Server({
      port: 0,
      host: '127.0.0.1',
      instanceId: 'lobby',
      storage: 'memory',
      logLevel: 'silent',
      simulator: { resumeGraceMs: graceMs },
    });
    server.createEntityType('avatar', {
      fields: { x: { dataType: 'number', min: 0, max: 100, accessControl: 'client' } },
      connectionBound: true,
    });
    servers.push(await server.listen());
    const avatar = '0190d7a0-0000-7000-8000-0000000000aa';
    const old = await join(server, 1);
    const first = await old.next('welcome');
    old.send({
      type: 'ops',
      stamp: 1,
      seq: 1,
      ops: [{ op: 'create', entityId: avatar, typeName: 'avatar', data: { x: 1 } }],
    });
    await old.next('frame', (m) => m.frame.entities.some((e) => e.id === avatar));

    // The old socket is still open (a network switch: the new one comes first).
    const fresh = await join(server, 2);
    const welcome = await fresh.next('welcome');
    expect(welcome.connectionId).toBe(first.connectionId);
    expect((await old.closed()).code).toBe(CloseCode.Replaced);

    await new Promise((resolve) => setTimeout(resolve, graceMs * 3));
    expect(server.getEntities('avatar').map((e) => e.id)).toEqual([avatar]);
    expect(server.getConnections().map((c) => c.id)).toEqual([first.connectionId]);
    fresh.send({
      type: 'ops',
      stamp: 2,
      seq: 1,
      ops: [{ op: 'update', entityId: avatar, data: { x: 42 } }],
    });
    await fresh.next('frame', (m) => m.frame.entities.some((e) => e.id === avatar && e.fields?.x === 42));
    await waitFor(
      () => server.getEntities('avatar')[0]?.get('x'),
      (x) => x === 42,
      'the op to apply',
      5000,
    );
    expect(fresh.of('reject')).toEqual([]);
  });
});
