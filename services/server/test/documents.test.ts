import { afterEach, describe, expect, it } from 'vitest';
import { EventSource } from 'undici';
import WebSocket from 'ws';
import { CloseCode, ErrorCode, PROTOCOL_VERSION } from '@p3/protocol';
import { JwtAuthenticator } from '@p3/gateway';
import { MemorySnapshotStore } from '@p3/runtime';
import { P3Server } from '@p3/server';
import { RawClient, WsTestClient, mintToken, testJwtSecret, unsignedToken, until } from '@p3/test-support';

const servers: P3Server[] = [];
const closers: Array<() => unknown> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
  for (const s of servers.splice(0)) await s.close();
});

async function start(
  options: { auth?: boolean; store?: MemorySnapshotStore; tombstoneRetention?: number } = {},
): Promise<P3Server> {
  const server = new P3Server({
    port: 0,
    host: '127.0.0.1',
    instanceId: 'lobby',
    storage: options.store ?? 'memory',
    logLevel: 'silent',
    documents: {
      saveThrottleMs: 0,
      ...(options.tombstoneRetention === undefined ? {} : { tombstoneRetention: options.tombstoneRetention }),
    },
    ...(options.auth === false
      ? {}
      : { auth: new JwtAuthenticator({ secret: testJwtSecret, audience: 'p3' }) }),
  });
  servers.push(await server.listen());
  return server;
}

async function ecsClient(
  server: P3Server,
  clientId: string,
  roomId: string,
  token?: string,
): Promise<WsTestClient> {
  const client = new WsTestClient(
    `ws://127.0.0.1:${server.port}/ecs-sync`,
    clientId,
    roomId,
    token === undefined ? {} : { token },
  );
  closers.push(() => client.disconnect());
  await client.join();
  return client;
}

const http = (server: P3Server) => `http://127.0.0.1:${server.port}`;
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function post(server: P3Server, room: string, body: unknown, token: string): Promise<Response> {
  return fetch(`${http(server)}/v1/rooms/${room}/changes`, {
    method: 'POST',
    headers: { ...bearer(token), 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

describe('/ecs-sync on the gateway', () => {
  it('lets two existing-protocol clients converge, including across a disconnect with offline edits on both sides', async () => {
    const server = await start();
    const token = await mintToken();
    const alice = await ecsClient(server, 'alice', 'doc-1', token);
    const bob = await ecsClient(server, 'bob', 'doc-1', token);
    await until(() => alice.clientCount === 2 && bob.clientCount === 2, 5000, 'clientCount 2');
    alice.edit({ 'e1/Pos': { _exists: true, x: 1, y: 1 } });
    await alice.sync();
    await until(
      () => JSON.stringify(bob.document()) === JSON.stringify(alice.document()),
      5000,
      'bob to see alice',
    );

    await alice.disconnect();
    await bob.disconnect();
    alice.edit({ 'e1/Pos': { x: 10 } });
    bob.edit({ 'e1/Pos': { y: 20 }, 'e2/Name': { _exists: true, text: 'hi' } });
    await alice.join();
    await bob.join();
    await alice.sync();
    await until(
      () => JSON.stringify(bob.document()) === JSON.stringify(alice.document()),
      5000,
      'convergence',
    );
    expect(alice.document()).toEqual({
      'e1/Pos': { _exists: true, x: 10, y: 20 },
      'e2/Name': { _exists: true, text: 'hi' },
    });
  });

  it('refuses a bad token at the upgrade with 401; another team gets a room of its own', async () => {
    const server = await start();
    await ecsClient(server, 'alice', 'blue-doc', await mintToken({ team: 'blue' }));
    const statusOf = (token: string, room: string) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(
          `ws://127.0.0.1:${server.port}/ecs-sync?roomId=${room}&clientId=x&token=${token}`,
        );
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.on('open', () => resolve(101));
      });
    expect(await statusOf('garbage', 'blue-doc')).toBe(401);
    expect(await statusOf(await mintToken({ team: 'red' }), 'blue-doc')).toBe(101);
    expect(await statusOf(await mintToken({ team: 'blue' }), 'blue-doc')).toBe(101);
  });
});

describe('seed 002 over HTTP', () => {
  it('bootstraps the full state, then a delta since a version with tombstones', async () => {
    const server = await start();
    const token = await mintToken();
    const alice = await ecsClient(server, 'alice', 'doc-2', token);
    alice.edit({ 'a/Pos': { x: 1 }, 'b/Pos': { x: 2 } });
    const first = await alice.sync();
    alice.edit({ 'a/Pos': { x: 3 }, 'b/Pos': { _exists: false } });
    await alice.sync();

    const full = await (
      await fetch(`${http(server)}/v1/rooms/doc-2/bootstrap`, { headers: bearer(token) })
    ).json();
    expect(full).toMatchObject({ room: 'doc-2', version: 2, full: true });
    expect(full.objects).toEqual([
      { key: 'a/Pos', data: { _exists: true, x: 3 }, versions: { _exists: 1, x: 2 } },
    ]);

    const delta = await (
      await fetch(`${http(server)}/v1/rooms/doc-2/bootstrap?since=${first.timestamp}`, {
        headers: bearer(token),
      })
    ).json();
    expect(delta).toMatchObject({ version: 2, since: 1, full: false });
    expect(delta.objects).toEqual([
      { key: 'a/Pos', data: { x: 3 }, versions: { x: 2 } },
      { key: 'b/Pos', data: { _exists: false }, versions: { _exists: 2 }, cleared: true },
    ]);
  });

  it('streams a large bootstrap in chunks', async () => {
    const server = await start();
    const token = await mintToken();
    const patch = Object.fromEntries(
      Array.from({ length: 3000 }, (_, i) => [`e${i}/Data`, { v: i, text: 'x'.repeat(100) }]),
    );
    expect((await post(server, 'big', { patches: [patch] }, token)).status).toBe(200);
    const response = await fetch(`${http(server)}/v1/rooms/big/bootstrap`, { headers: bearer(token) });
    const body = await response.json();
    expect(body.objects).toHaveLength(3000);
    expect(body.objects[2999]).toMatchObject({ key: 'e2999/Data', data: { v: 2999 } });
  });

  it('answers a since older than the retained tombstones with the full state and says so', async () => {
    const server = await start({ tombstoneRetention: 1 });
    const token = await mintToken();
    await post(server, 'old', { patches: [{ a: { x: 1 }, b: { x: 1 } }] }, token);
    await post(server, 'old', { patches: [{ b: { _exists: false } }] }, token);
    await post(server, 'old', { patches: [{ a: { x: 2 } }] }, token);
    await post(server, 'old', { patches: [{ a: { x: 3 } }] }, token);
    const body = await (
      await fetch(`${http(server)}/v1/rooms/old/bootstrap?since=1`, { headers: bearer(token) })
    ).json();
    expect(body.full).toBe(true);
    expect(body.reason).toMatch(/older than the retained tombstones/);
    expect(body.objects.map((o: { key: string }) => o.key)).toEqual(['a']);
  });

  it('applies POSTed changes last-write-wins and broadcasts them to WebSocket members', async () => {
    const server = await start();
    const token = await mintToken({ username: 'carol' });
    const alice = await ecsClient(server, 'alice', 'doc-3', token);
    const response = await post(server, 'doc-3', { patches: [{ 'e1/Pos': { x: 5 } }] }, token);
    expect(await response.json()).toEqual({ room: 'doc-3', version: 1 });
    await until(() => alice.document()['e1/Pos']?.x === 5, 5000, 'the broadcast');
    expect(alice.received.some((m) => m.type === 'patch' && m.clientId === 'http:carol')).toBe(true);
  });

  it('refuses malformed, non-object, prototype-key and oversized change bodies with codes', async () => {
    const server = await start();
    const token = await mintToken();
    const cases: Array<[unknown, number, string]> = [
      ['{"patches": [', 400, ErrorCode.Malformed],
      [{ patches: 'nope' }, 400, ErrorCode.InvalidMessage],
      [{ patches: [[1, 2]] }, 400, ErrorCode.InvalidMessage],
      [{ patches: [{ k: 5 }] }, 400, ErrorCode.InvalidMessage],
      ['{"patches": [{"k": {"__proto__": {"x": 1}}}]}', 400, ErrorCode.PrototypeKey],
      [{ patches: [{ k: { big: 'x'.repeat(1_100_000) } }] }, 413, ErrorCode.TooLarge],
    ];
    for (const [body, status, code] of cases) {
      const response = await post(server, 'doc-4', body, token);
      expect([response.status, (await response.json()).code]).toEqual([status, code]);
    }
    const state = await (
      await fetch(`${http(server)}/v1/rooms/doc-4/bootstrap`, { headers: bearer(token) })
    ).json();
    expect(state.objects).toEqual([]);
  });

  it('streams changes as server-sent events and resumes after Last-Event-ID', async () => {
    const server = await start();
    const token = await mintToken();
    const events: Array<{ id: string; data: { version: number; patches: unknown[] } }> = [];
    const open = (lastEventId?: string) => {
      const url = `${http(server)}/v1/rooms/doc-5/sync?token=${token}${lastEventId ? `&lastEventId=${lastEventId}` : ''}`;
      const source = new EventSource(url);
      source.addEventListener('change', (e) => {
        const message = e as MessageEvent<string>;
        events.push({ id: message.lastEventId, data: JSON.parse(message.data) });
      });
      closers.push(() => source.close());
      return new Promise<EventSource>((resolve) => source.addEventListener('open', () => resolve(source)));
    };
    const first = await open();
    await post(server, 'doc-5', { patches: [{ a: { x: 1 } }] }, token);
    await until(() => events.length === 1, 5000, 'the first event');
    expect(events[0]).toMatchObject({ id: '1', data: { version: 1, patches: [{ a: { x: 1 } }] } });
    first.close();
    await post(server, 'doc-5', { patches: [{ a: { x: 2 } }] }, token);
    await post(server, 'doc-5', { patches: [{ b: { y: 1 } }] }, token);
    await open('1');
    await until(() => events.length === 2, 5000, 'the resumed event');
    expect(events[1]).toMatchObject({
      id: '3',
      data: { version: 3, patches: [{ a: { x: 2 }, b: { _exists: true, y: 1 } }] },
    });
    await post(server, 'doc-5', { patches: [{ a: { x: 4 } }] }, token);
    await until(() => events.length === 3, 5000, 'a live event after resuming');
    expect(events[2]?.id).toBe('4');
  });
});

describe('seed 002 over HTTP: a resumed stream', () => {
  it('[SSE-5] asks the room for what it missed after resuming; a probe that finds nothing writes nothing', async () => {
    const server = await start({ auth: false });
    const post2 = (patches: unknown[]) =>
      fetch(`${http(server)}/v1/rooms/doc-7/changes`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ patches }),
      });
    expect((await post2([{ a: { x: 1 } }])).status).toBe(200);
    const events: string[] = [];
    const source = new EventSource(`${http(server)}/v1/rooms/doc-7/sync?lastEventId=1`);
    closers.push(() => source.close());
    source.addEventListener('change', (e) => events.push((e as MessageEvent<string>).lastEventId));
    await new Promise((resolve) => source.addEventListener('open', resolve));
    // The first probe (1 s) finds the stream up to date: no event.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(events).toEqual([]);
    expect((await post2([{ a: { x: 2 } }])).status).toBe(200);
    await until(() => events.length === 1, 5000, 'the live change');
    expect(events).toEqual(['2']);
  });
});

describe('seed 002 over HTTP when the room cannot be opened', () => {
  it('[SSE-4] ends a /sync with a retry delay (status 200) when its room fails to open, so an EventSource comes back', async () => {
    // Snapshots of document rooms cannot be read (a storage outage): opening one fails.
    class OutageStore extends MemorySnapshotStore {
      override async load(key: Parameters<MemorySnapshotStore['load']>[0]) {
        if (key.room.startsWith('doc/')) throw new Error('storage is down');
        return super.load(key);
      }
    }
    const server = await start({ auth: false, store: new OutageStore() });
    const response = await fetch(`${http(server)}/v1/rooms/doc-6/sync`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    const body = await response.text();
    expect(body).toMatch(/^retry: 1000\n: [A-Z_]+: /);
    // A request the client must fix still gets its error status.
    const bad = await fetch(`${http(server)}/v1/rooms/doc-6/sync?lastEventId=-1`);
    expect(bad.status).toBe(400);
  });
});

describe('authentication', () => {
  it('refuses wrong signature, expiry, alg none, wrong audience and missing tokens with 401 and a reason', async () => {
    const server = await start();
    const cases: Array<[string | undefined, RegExp]> = [
      [undefined, /token is required/],
      [await mintToken({ secret: 'another-secret-that-is-long-enough' }), /signature is invalid/],
      [await mintToken({ expiresIn: -120 }), /expired/],
      [unsignedToken(), /algorithm not allowed/],
      [await mintToken({ audience: 'someone-else' }), /another audience/],
    ];
    for (const [token, reason] of cases) {
      const response = await fetch(`${http(server)}/v1/rooms/doc-6/bootstrap`, {
        headers: token === undefined ? {} : bearer(token),
      });
      const body = await response.json();
      expect([response.status, body.code]).toEqual([401, ErrorCode.Unauthorized]);
      expect(body.reason).toMatch(reason);
      expect(response.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/);
    }
  });

  it('opens another team its own room of the same id (no 403), also after a restart (team-scoping.test.ts)', async () => {
    const store = new MemorySnapshotStore();
    const server = await start({ store });
    const blue = await mintToken({ team: 'blue' });
    const red = await mintToken({ team: 'red', username: 'rob' });
    expect((await fetch(`${http(server)}/v1/rooms/doc-7/bootstrap`, { headers: bearer(blue) })).status).toBe(
      200,
    );
    const own = await fetch(`${http(server)}/v1/rooms/doc-7/bootstrap`, { headers: bearer(red) });
    expect(own.status).toBe(200);
    await server.close();
    servers.splice(servers.indexOf(server), 1);
    const again = await start({ store });
    expect((await fetch(`${http(again)}/v1/rooms/doc-7/bootstrap`, { headers: bearer(red) })).status).toBe(
      200,
    );
  });

  it('authenticates /v1/connect joins with the same tokens; another team gets a world room of its own', async () => {
    const server = await start();
    const join = async (token: string | undefined, clientId: string) => {
      const client = await RawClient.open(`ws://127.0.0.1:${server.port}/v1/connect`);
      closers.push(() => client.close());
      client.send({
        type: 'join',
        protocolVersion: PROTOCOL_VERSION,
        room: 'arena',
        clientId,
        sessionStamp: 1,
        ...(token === undefined ? {} : { token }),
      });
      return client;
    };
    const ann = await join(await mintToken({ team: 'blue' }), 'ann');
    await ann.next('welcome');
    const anonymous = await join(undefined, 'nobody');
    expect((await anonymous.closed()).code).toBe(CloseCode.Unauthorized);
    expect((await anonymous.next('error')).code).toBe(ErrorCode.Unauthorized);
    const rob = await join(await mintToken({ team: 'red', username: 'rob' }), 'rob');
    expect((await rob.next('welcome')).room).toBe('arena');
  });

  it('stays open to anyone when no authenticator is configured (development)', async () => {
    const server = await start({ auth: false });
    expect((await fetch(`${http(server)}/v1/rooms/open-doc/bootstrap`)).status).toBe(200);
  });
});
