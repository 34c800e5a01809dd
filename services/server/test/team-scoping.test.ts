import { afterEach, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION } from '@p3/protocol';
import { JwtAuthenticator } from '@p3/gateway';
import { MemorySnapshotStore } from '@p3/runtime';
import { P3Server } from '@p3/server';
import { RawClient, WsTestClient, mintToken, testJwtSecret, until } from '@p3/test-support';

// Room names are per team (README "Authentication"): the first team to use a name does not own it for everyone.

const servers: P3Server[] = [];
const closers: Array<() => unknown> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
  for (const s of servers.splice(0)) await s.close();
});

async function start(store: MemorySnapshotStore, auth = true): Promise<P3Server> {
  const server = new P3Server({
    port: 0,
    host: '127.0.0.1',
    instanceId: 'lobby',
    storage: store,
    durability: 'snapshot',
    logLevel: 'silent',
    documents: { saveThrottleMs: 0 },
    ...(auth ? { auth: new JwtAuthenticator({ secret: testJwtSecret, audience: 'p3' }) } : {}),
  });
  server.createEntityType('note', { fields: { text: { dataType: 'string', accessControl: 'client' } } });
  servers.push(await server.listen());
  return server;
}

async function stop(server: P3Server): Promise<void> {
  await server.close();
  servers.splice(servers.indexOf(server), 1);
}

async function joinWorld(server: P3Server, token: string, clientId: string): Promise<RawClient> {
  const client = await RawClient.open(`ws://127.0.0.1:${server.port}/v1/connect`);
  closers.push(() => client.close());
  client.send({
    type: 'join',
    protocolVersion: PROTOCOL_VERSION,
    room: 'arena',
    clientId,
    sessionStamp: 1,
    token,
  });
  return client;
}

const url = (server: P3Server, path: string) => `http://127.0.0.1:${server.port}/v1/rooms/${path}`;
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function bootstrapKeys(server: P3Server, room: string, token: string): Promise<string[]> {
  const response = await fetch(url(server, `${room}/bootstrap`), { headers: bearer(token) });
  expect(response.status).toBe(200);
  const text = await response.text();
  const body = JSON.parse(text) as { objects?: Array<{ key: string }> } | Array<{ key: string }>;
  const objects = Array.isArray(body) ? body : (body.objects ?? []);
  return objects.map((o) => o.key).sort();
}

async function post(server: P3Server, room: string, token: string, patch: Record<string, unknown>) {
  const response = await fetch(url(server, `${room}/changes`), {
    method: 'POST',
    headers: { ...bearer(token), 'content-type': 'application/json' },
    body: JSON.stringify({ patches: [patch] }),
  });
  expect(response.status).toBe(200);
}

describe('team-scoped room names', () => {
  it('[ROOM-6] two teams joining world room `arena` each get their own room and never see each other', async () => {
    const server = await start(new MemorySnapshotStore());
    const blueToken = await mintToken({ team: 'blue', username: 'ann' });
    const redToken = await mintToken({ team: 'red', username: 'rob' });
    const blue = await joinWorld(server, blueToken, 'ann');
    expect((await blue.next('welcome')).room).toBe('arena');
    const blueNote = '0190d7a0-0000-7000-8000-0000000000b1';
    blue.send({
      type: 'ops',
      stamp: 1,
      seq: 1,
      ops: [{ op: 'create', entityId: blueNote, typeName: 'note', data: { text: 'blue plans' } }],
    });
    await blue.next('frame', (m) => m.frame.entities.some((e) => e.id === blueNote));

    const red = await joinWorld(server, redToken, 'rob');
    const redWelcome = await red.next('welcome');
    expect(redWelcome.room).toBe('arena');
    expect(redWelcome.entities).toEqual([]);
    const redNote = '0190d7a0-0000-7000-8000-0000000000c1';
    red.send({
      type: 'ops',
      stamp: 1,
      seq: 1,
      ops: [{ op: 'create', entityId: redNote, typeName: 'note', data: { text: 'red plans' } }],
    });
    await red.next('frame', (m) => m.frame.entities.some((e) => e.id === redNote));
    // A second blue member sees blue's note only.
    const blue2 = await joinWorld(server, await mintToken({ team: 'blue', username: 'bea' }), 'bea');
    expect((await blue2.next('welcome')).entities.map((e) => e.id)).toEqual([blueNote]);
    // The next message of blue's room: a heartbeat, its ticks change nothing ([IDLE-2]).
    await blue.nextNew('idle');
    const seenByBlue = blue.of('frame').flatMap((m) => m.frame.entities.map((e) => e.id));
    const seenByRed = red.of('frame').flatMap((m) => m.frame.entities.map((e) => e.id));
    expect(seenByBlue).not.toContain(redNote);
    expect(seenByRed).not.toContain(blueNote);
  });

  it('[ROOM-6] two teams using document room `notes` over /ecs-sync and HTTP keep separate documents, also after a restart', async () => {
    const store = new MemorySnapshotStore();
    const server = await start(store);
    const blueToken = await mintToken({ team: 'blue', username: 'ann' });
    const redToken = await mintToken({ team: 'red', username: 'rob' });
    const blue = new WsTestClient(`ws://127.0.0.1:${server.port}/ecs-sync`, 'ann', 'notes', {
      token: blueToken,
    });
    closers.push(() => blue.disconnect());
    await blue.join();
    blue.edit({ 'b1/Text': { _exists: true, body: 'blue' } });
    await blue.sync();
    const red = new WsTestClient(`ws://127.0.0.1:${server.port}/ecs-sync`, 'rob', 'notes', {
      token: redToken,
    });
    closers.push(() => red.disconnect());
    await red.join();
    expect(red.document()).toEqual({});
    await post(server, 'notes', redToken, { 'r1/Text': { _exists: true, body: 'red' } });
    await until(() => red.document()['r1/Text'] !== undefined, 5000, 'red to see its change');
    expect(await bootstrapKeys(server, 'notes', blueToken)).toEqual(['b1/Text']);
    expect(await bootstrapKeys(server, 'notes', redToken)).toEqual(['r1/Text']);
    expect(Object.keys(blue.document())).toEqual(['b1/Text']);
    await blue.disconnect();
    await red.disconnect();
    await stop(server);

    const again = await start(store);
    expect(await bootstrapKeys(again, 'notes', blueToken)).toEqual(['b1/Text']);
    expect(await bootstrapKeys(again, 'notes', redToken)).toEqual(['r1/Text']);
  });

  it('[ROOM-6] a document room its team owned before rooms were scoped is continued by that team only', async () => {
    const store = new MemorySnapshotStore();
    // Written by an earlier version: room `plans` under its bare id, owned by team blue.
    const open = await start(store, false);
    await post(open, 'plans', 'unused', { 'p1/Text': { _exists: true, body: 'old blue plans' } });
    await stop(open);
    const key = { tenant: 'default', room: 'doc/plans' };
    const legacy = await store.load(key);
    await store.save(key, { ...legacy!, team: 'blue' });

    const server = await start(store);
    const blueToken = await mintToken({ team: 'blue', username: 'ann' });
    expect(await bootstrapKeys(server, 'plans', blueToken)).toEqual(['p1/Text']);
    expect(await bootstrapKeys(server, 'plans', await mintToken({ team: 'red' }))).toEqual([]);
    await post(server, 'plans', blueToken, { 'p2/Text': { _exists: true, body: 'new' } });
    expect(await bootstrapKeys(server, 'plans', blueToken)).toEqual(['p1/Text', 'p2/Text']);
  });
});
