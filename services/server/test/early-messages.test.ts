import { afterEach, describe, expect, it } from 'vitest';
import { ok, PROTOCOL_VERSION } from '@p3/protocol';
import type { Authenticator } from '@p3/gateway';
import { P3Server } from '@p3/server';
import { RawClient } from '@p3/test-support';

const servers: P3Server[] = [];
const clients: RawClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of servers.splice(0)) await s.close();
});

/** A join that takes a round trip, like one across the cluster: the authenticator answers after 150 ms. */
const slowAuth: Authenticator = {
  authenticate: () => new Promise((resolve) => setTimeout(() => resolve(ok(undefined)), 150)),
};

describe('messages that arrive while the join is in flight', () => {
  it('[JOIN-EARLY] are kept and handled in order once the join succeeds, not refused as NOT_JOINED', async () => {
    const server = new P3Server({
      port: 0,
      host: '127.0.0.1',
      instanceId: 'early',
      storage: 'memory',
      logLevel: 'silent',
      auth: slowAuth,
    });
    server.createEntityType('note', { fields: { text: { dataType: 'string', accessControl: 'client' } } });
    servers.push(await server.listen());
    const client = await RawClient.open(`ws://127.0.0.1:${server.port}/v1/connect`);
    clients.push(client);
    const entityId = '01936f3e-7a00-7000-8000-000000000001';
    // A reconnecting SDK sends its queued ops right behind its join (seed 002, step 2).
    client.send({
      type: 'join',
      protocolVersion: PROTOCOL_VERSION,
      room: 'early',
      clientId: 'c1',
      sessionStamp: 1,
    });
    client.send({
      type: 'ops',
      stamp: 1,
      seq: 1,
      ops: [{ op: 'create', entityId, typeName: 'note', data: { text: 'early' } }],
    });
    client.send({
      type: 'ops',
      stamp: 1,
      seq: 2,
      ops: [{ op: 'update', entityId, data: { text: 'early 2' } }],
    });
    await client.next('welcome');
    const ack = await client.next('ack', (m) => m.seq === 2);
    expect(ack.missing ?? []).toEqual([]);
    expect(client.received.filter((m) => m.type === 'error')).toEqual([]);
    const room = await server.instance('early');
    expect(room.world.entities('note').map((e) => e.get('text'))).toEqual(['early 2']);
  });
});
