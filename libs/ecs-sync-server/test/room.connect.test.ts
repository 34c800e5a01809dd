import { afterEach, describe, expect, it } from 'vitest';
import { CloseCode } from '@p3/protocol';
import { Room, type SessionRemovedInfo, type WebSocketLike } from '../src/index.js';
import { EcsSyncTestClient, WsTestClient } from '@p3/test-support';
import { ControlledLog, settle } from './helpers/ControlledLog.js';
import { MemoryConnection } from './helpers/MemoryConnection.js';
import { roomFixture, type RoomFixture } from './helpers/roomFixture.js';

let fixture: RoomFixture | undefined;
afterEach(async () => {
  await fixture?.dispose();
  fixture = undefined;
});

/** Resolves a promise from outside (an async onBeforeConnect the test decides). */
function deferred<T>(): {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
} {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('[SYNC-11] onBeforeConnect', () => {
  it('receives the session and client ids; true accepts', async () => {
    const seen: unknown[] = [];
    fixture = await roomFixture({ onBeforeConnect: (info) => (seen.push(info), true) });
    const alice = await fixture.join('alice');
    expect(seen).toEqual([{ sessionId: fixture.room.getSessions()[0]!.sessionId, clientId: 'alice' }]);
    expect(alice.clientCount).toBe(1);
  });

  it.each([
    ['false', () => false, 'connection refused'],
    ['a reason string', () => 'token expired', 'token expired'],
    ['a promise of a reason', () => Promise.resolve('banned'), 'banned'],
    [
      'a throw',
      () => {
        throw new Error('boom');
      },
      'connection refused',
    ],
    ['a rejection', () => Promise.reject(new Error('db down')), 'connection refused'],
  ])('refuses on %s: FORBIDDEN error, then close 4102', async (_, decide, reason) => {
    fixture = await roomFixture({ onBeforeConnect: decide });
    const mallory = fixture.client('mallory');
    await mallory.connect();
    await mallory.until(() => mallory.closes[0]);
    expect(mallory.received).toEqual([{ type: 'error', code: 'FORBIDDEN', reason }]);
    expect(mallory.closes[0]).toEqual({ code: 4102, reason });
    expect(fixture.room.getSessionCount()).toBe(0);
  });

  it('refused clients never count and never see others; others never see them', async () => {
    fixture = await roomFixture({ onBeforeConnect: ({ clientId }) => clientId !== 'mallory' || 'no' });
    const alice = await fixture.join('alice');
    alice.edit(undefined, { 'alice/Cursor': { x: 1 } });
    await alice.sync();
    const mallory = fixture.client('mallory');
    await mallory.connect();
    await mallory.until(() => mallory.closes[0]);
    await alice.sync();
    expect(alice.received.filter((m) => m.type === 'clientCount')).toEqual([
      { type: 'clientCount', count: 1 },
    ]);
    expect(mallory.received.map((m) => m.type)).toEqual(['error']);
  });

  it('queues messages sent while an async decision is pending and handles them after acceptance, in order', async () => {
    const decision = deferred<boolean>();
    const room = new Room({ onBeforeConnect: () => decision.promise, onError: () => undefined });
    const alice = new EcsSyncTestClient('alice');
    const connection = new MemoryConnection(room, alice, 's1');
    const accepted = room.handleSocketConnect({
      sessionId: 's1',
      socket: connection.socket,
      clientId: 'alice',
    });
    alice.opened((text) => connection.up.push(text));
    alice.edit({ e1: { x: 1 } });
    while (connection.deliverUp());
    expect(room.getSessionCount()).toBe(0);
    expect(connection.down).toEqual([]);

    decision.resolve(true);
    expect(await accepted).toBe(true);
    connection.deliverAllDown();
    expect(alice.received.map((m) => m.type)).toEqual(['clientCount', 'patch', 'ack']);
    expect(alice.received[2]).toEqual({ type: 'ack', messageId: 'alice-1', timestamp: 1 });
    expect(alice.document()).toEqual({ e1: { _exists: true, x: 1 } });
  });

  it('a connection that closes while the decision is pending is dropped without a trace', async () => {
    const decision = deferred<boolean>();
    const removed: SessionRemovedInfo[] = [];
    const room = new Room({
      onBeforeConnect: () => decision.promise,
      onSessionRemoved: (_, info) => removed.push(info),
    });
    const sent: string[] = [];
    const socket: WebSocketLike = { send: (d) => sent.push(d), close: () => undefined };
    const accepted = room.handleSocketConnect({ sessionId: 's1', socket, clientId: 'alice' });
    room.handleSocketMessage(
      's1',
      JSON.stringify({ type: 'patch', messageId: 'm', documentPatches: [{ e: { x: 1 } }] }),
    );
    room.handleSocketClose('s1');
    decision.resolve(true);
    expect(await accepted).toBe(false);
    expect(room.getSessionCount()).toBe(0);
    expect(room.getSnapshot().timestamp).toBe(0);
    expect(sent).toEqual([]);
    expect(removed).toEqual([]);
  });
});

describe('[SYNC-13] sockets without addEventListener', () => {
  it('work through handleSocketMessage / handleSocketClose / handleSocketError', async () => {
    const removed: SessionRemovedInfo[] = [];
    const errors: string[] = [];
    const room = new Room({
      onSessionRemoved: (_, info) => removed.push(info),
      onError: (_, context) => errors.push(context),
    });
    const alice = new EcsSyncTestClient('alice');
    const bob = new EcsSyncTestClient('bob');
    const a = await MemoryConnection.open(room, alice, 'sa');
    const b = await MemoryConnection.open(room, bob, 'sb');
    a.deliverUp();
    b.deliverUp();
    alice.edit({ e1: { x: 1 } }, { 'alice/Cursor': { x: 1 } });
    a.deliverUp();
    a.deliverAllDown();
    b.deliverAllDown();
    expect(alice.received.at(-1)).toEqual({ type: 'ack', messageId: 'alice-1', timestamp: 1 });
    expect(bob.received.at(-1)).toEqual({
      type: 'patch',
      documentPatches: [{ e1: { x: 1 } }],
      ephemeralPatches: [{ 'alice/Cursor': { x: 1 } }],
      clientId: 'alice',
      timestamp: 1,
    });
    expect(bob.document()).toEqual(alice.document());

    // Bytes work as well as text (Bun hands Buffers for binary frames).
    room.handleSocketMessage(
      'sa',
      new TextEncoder().encode(
        JSON.stringify({ type: 'patch', messageId: 'bin', documentPatches: [{ e2: { y: 1 } }] }),
      ),
    );
    a.deliverAllDown();
    expect(alice.received.at(-1)).toEqual({ type: 'ack', messageId: 'bin', timestamp: 2 });

    room.handleSocketError('sa', new Error('ECONNRESET'));
    expect(errors).toEqual(['socket of session sa']);
    expect(a.closeCodes).toEqual([4005]);
    b.deliverAllDown();
    expect(bob.received.slice(-2)).toEqual([
      {
        type: 'patch',
        ephemeralPatches: [{ 'alice/Cursor': { _exists: false } }],
        clientId: 'alice',
        timestamp: 2,
      },
      { type: 'clientCount', count: 1 },
    ]);
    b.serverNoticesClose();
    expect(removed).toEqual([
      { sessionId: 'sa', remaining: 1 },
      { sessionId: 'sb', remaining: 0 },
    ]);
    // Events for unknown sessions are ignored.
    room.handleSocketMessage('nobody', '{}');
    room.handleSocketClose('nobody');
    room.handleSocketError('nobody', new Error('x'));
    expect(room.getSessionCount()).toBe(0);
  });

  it('[SYNC-15] a second connection with a session id in use replaces the first (4004); a late forwarded close of the first is ignored', async () => {
    const room = new Room();
    const first = await MemoryConnection.join(room, new EcsSyncTestClient('alice'), 's');
    first.client.edit({ e: { x: 1 } });
    first.flush();
    // The first connection goes half-open: the room does not notice.
    first.clientDrops({ lose: false, zombie: true });
    const second = await MemoryConnection.join(room, new EcsSyncTestClient('alice'), 's');
    expect(first.closeCodes).toEqual([4004]);
    expect(second.closeCodes).toEqual([]);
    expect(room.getSessions()).toEqual([{ sessionId: 's', clientId: 'alice' }]);
    expect(second.client.document()).toEqual({ e: { _exists: true, x: 1 } });
    // A socket library without addEventListener forwards the replaced socket's close later (Bun): not the new one's.
    room.handleSocketClose('s');
    expect(room.getSessionCount()).toBe(1);
    second.client.edit({ e: { x: 2 } });
    second.flush();
    expect(second.client.received.at(-1)).toEqual({ type: 'ack', messageId: 'alice-1', timestamp: 2 });
    // The new connection's own close still ends it.
    second.clientDrops({ lose: false, zombie: false });
    expect(room.getSessionCount()).toBe(0);
  });

  it('[SYNC-15] with the socket passed, events of a replaced socket are ignored whatever their order', async () => {
    const room = new Room();
    const sent: string[][] = [[], []];
    const closed: number[][] = [[], []];
    const sockets: WebSocketLike[] = [0, 1].map((i) => ({
      send: (text: string) => sent[i]!.push(text),
      close: (code?: number) => closed[i]!.push(code ?? 1000),
    }));
    expect(await room.handleSocketConnect({ sessionId: 's', socket: sockets[0]!, clientId: 'a' })).toBe(true);
    expect(await room.handleSocketConnect({ sessionId: 's', socket: sockets[1]!, clientId: 'a' })).toBe(true);
    expect(closed).toEqual([[4004], []]);
    room.handleSocketMessage(
      's',
      JSON.stringify({ type: 'patch', messageId: 'old', documentPatches: [{ e: { x: 1 } }] }),
      sockets[0],
    );
    room.handleSocketError('s', new Error('reset'), sockets[0]);
    room.handleSocketClose('s', sockets[0]);
    expect(room.getVersion()).toBe(0);
    expect(room.getSessionCount()).toBe(1);
    room.handleSocketMessage(
      's',
      JSON.stringify({ type: 'patch', messageId: 'new', documentPatches: [{ e: { x: 1 } }] }),
      sockets[1],
    );
    expect(room.getVersion()).toBe(1);
    expect(sent[1]!.map((text) => JSON.parse(text) as unknown).at(-1)).toEqual({
      type: 'ack',
      messageId: 'new',
      timestamp: 1,
    });
    room.handleSocketClose('s', sockets[1]);
    expect(room.getSessionCount()).toBe(0);
  });

  it('[SYNC-15] a half-open ws connection is replaced by a new one with its session id (real sockets)', async () => {
    fixture = await roomFixture();
    const url = fixture.server.url;
    const old = new WsTestClient(url, 'alice', 'room', { sessionId: 'tab-1' });
    const fresh = new WsTestClient(url, 'alice', 'room', { sessionId: 'tab-1' });
    const bob = new WsTestClient(url, 'bob', 'room', { sessionId: 'tab-2' });
    try {
      await old.join();
      await bob.join();
      old.edit({ e: { x: 1 } });
      await old.sync();
      await fresh.join();
      expect(await old.until(() => old.closes[0])).toEqual({
        code: CloseCode.Replaced,
        reason: 'replaced by a new connection with this session id',
      });
      fresh.edit({ e: { y: 2 } });
      await fresh.sync();
      await bob.until(() => (bob.document().e?.y === 2 ? true : undefined));
      // The old socket's close reached the server by now (its close frame was answered): the new session lives on.
      expect(
        fixture.room
          .getSessions()
          .map((s) => s.sessionId)
          .sort(),
      ).toEqual(['tab-1', 'tab-2']);
      expect(fresh.closes).toEqual([]);
      expect(fresh.document()).toEqual({ e: { _exists: true, x: 1, y: 2 } });
    } finally {
      await Promise.all([old.disconnect(), fresh.disconnect(), bob.disconnect()]);
    }
  });

  it('[SYNC-15] with a change log, what was queued for the replaced session never reaches the new socket', async () => {
    const log = new ControlledLog();
    const room = new Room({ log, onError: () => undefined });
    await room.load();
    const first = await MemoryConnection.join(room, new EcsSyncTestClient('alice'), 's');
    await settle();
    first.flush();
    first.client.edit({ e: { x: 1 } });
    first.flush();
    await settle();
    // The ack of that patch waits in the outbox for its append.
    expect(log.pendingTimestamps()).toEqual([1]);
    first.clientDrops({ lose: true, zombie: true });
    const second = await MemoryConnection.open(room, new EcsSyncTestClient('alice'), 's');
    expect(first.closeCodes).toEqual([4004]);
    log.release();
    await room.whenDurable(1);
    await settle();
    second.flush();
    await settle();
    second.flush();
    const types = second.client.received.map((m) => m.type);
    expect(types).not.toContain('ack');
    expect(second.client.received).toContainEqual({
      type: 'patch',
      documentPatches: [{ e: { _exists: true, x: 1 } }],
      clientId: '',
      timestamp: 1,
    });
    expect(room.getSessions()).toEqual([{ sessionId: 's', clientId: 'alice' }]);
  });

  it('a socket that throws on send does not break the room', async () => {
    const errors: string[] = [];
    const room = new Room({ onError: (_, context) => errors.push(context) });
    const broken: WebSocketLike = {
      send: () => {
        throw new Error('socket is closing');
      },
      close: () => undefined,
    };
    const alice = new EcsSyncTestClient('alice');
    await room.handleSocketConnect({ sessionId: 'broken', socket: broken, clientId: 'bob' });
    const a = await MemoryConnection.open(room, alice, 'sa');
    a.deliverUp();
    alice.edit({ e: { x: 1 } });
    a.deliverUp();
    a.deliverAllDown();
    expect(alice.received.at(-1)).toEqual({ type: 'ack', messageId: 'alice-1', timestamp: 1 });
    expect(errors.every((c) => c === 'send to session broken')).toBe(true);
    expect(errors.length).toBeGreaterThan(0);
  });
});

describe('[SYNC-14] close', () => {
  it('closes every socket with 4003, refuses later connections and saves', async () => {
    fixture = await roomFixture();
    const alice = await fixture.join('alice');
    const bob = await fixture.join('bob');
    alice.edit({ e: { x: 1 } });
    await alice.sync();
    await fixture.room.close();
    await alice.until(() => alice.closes[0]);
    await bob.until(() => bob.closes[0]);
    expect(alice.closes[0]).toEqual({ code: 4003, reason: 'room closed' });
    expect(fixture.room.getSessionCount()).toBe(0);

    const late: (number | undefined)[] = [];
    expect(
      await fixture.room.handleSocketConnect({
        sessionId: 'late',
        socket: { send: () => undefined, close: (c) => late.push(c) },
        clientId: 'c',
      }),
    ).toBe(false);
    expect(late).toEqual([4003]);
  });
});
