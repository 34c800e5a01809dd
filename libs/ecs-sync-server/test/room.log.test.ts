import { CloseCode } from '@p3/protocol';
import { describe, expect, it } from 'vitest';
import {
  MemoryStorage,
  Room,
  RoomManager,
  type DocumentChange,
  type EcsSyncServerMessage,
  type LoggedChange,
  type RoomOptions,
} from '../src/index.js';
import { EcsSyncTestClient } from '@p3/test-support';
import { ControlledLog, settle } from './helpers/ControlledLog.js';
import { CountingStorage } from './helpers/CountingStorage.js';
import { MemoryConnection } from './helpers/MemoryConnection.js';

/** What the room sent a connection and the client has not received yet. */
const queued = (connection: MemoryConnection) =>
  connection.down.map((text) => JSON.parse(text) as EcsSyncServerMessage);

async function loggedRoom(
  options: RoomOptions & { log?: ControlledLog } = {},
): Promise<{ room: Room; log: ControlledLog; errors: [unknown, string][] }> {
  const log = options.log ?? new ControlledLog();
  const errors: [unknown, string][] = [];
  const room = new Room({ onError: (e, context) => errors.push([e, context]), ...options, log });
  await room.load();
  return { room, log, errors };
}

describe('[LOG-1] nothing leaves the room before it is durable', () => {
  it('[LOG-1] the ack and the broadcast of a patch wait for its append, and arrive once it resolves', async () => {
    const { room, log } = await loggedRoom();
    const alice = await MemoryConnection.join(room, new EcsSyncTestClient('alice'));
    const bob = await MemoryConnection.join(room, new EcsSyncTestClient('bob'));
    await settle();
    alice.flush();
    bob.flush();

    alice.client.edit({ 'e1/Pos': { x: 1 } });
    alice.flush();
    await settle();
    expect(log.pendingTimestamps()).toEqual([1]);
    expect(room.getVersion()).toBe(1);
    expect(queued(alice)).toEqual([]);
    expect(queued(bob)).toEqual([]);

    log.release();
    await settle();
    expect(queued(alice)).toEqual([{ type: 'ack', messageId: 'alice-1', timestamp: 1 }]);
    expect(queued(bob)).toEqual([
      { type: 'patch', documentPatches: [{ 'e1/Pos': { x: 1 } }], clientId: 'alice', timestamp: 1 },
    ]);
    expect(log.durable).toEqual([{ timestamp: 1, documentPatches: [{ 'e1/Pos': { x: 1 } }] }]);
  });

  it('[LOG-1] messages leave in the order produced, each once every change up to its version is durable', async () => {
    const { room, log } = await loggedRoom();
    const alice = await MemoryConnection.join(room, new EcsSyncTestClient('alice'));
    const bob = await MemoryConnection.join(room, new EcsSyncTestClient('bob'));
    await settle();
    alice.flush();
    bob.flush();

    alice.client.edit({ a: { x: 1 } });
    alice.client.edit({ b: { x: 2 } });
    // Ephemeral-only: it changes nothing durable, but was produced after change 2, so it waits behind it.
    alice.client.edit(undefined, { 'alice/Cursor': { x: 5 } });
    alice.flush();
    room.applyPatches([{ c: { x: 3 } }], 'http:carol');
    expect(log.pendingTimestamps()).toEqual([1, 2, 3]);

    log.release(1);
    await settle();
    expect(queued(alice).map((m) => [m.type, 'timestamp' in m ? m.timestamp : undefined])).toEqual([
      ['ack', 1],
    ]);
    expect(queued(bob).map((m) => (m.type === 'patch' ? m.timestamp : m.type))).toEqual([1]);

    log.release(1);
    await settle();
    expect(queued(alice).map((m) => [m.type, 'timestamp' in m ? m.timestamp : undefined])).toEqual([
      ['ack', 1],
      ['ack', 2],
      ['ack', 2],
    ]);
    expect(queued(bob).map((m) => (m.type === 'patch' ? m.timestamp : m.type))).toEqual([1, 2, 2]);
    expect(queued(bob)[2]).toMatchObject({ ephemeralPatches: [{ 'alice/Cursor': { x: 5 } }] });

    log.release();
    await settle();
    expect(queued(alice).at(-1)).toMatchObject({ type: 'patch', clientId: 'http:carol', timestamp: 3 });
    expect(queued(bob).at(-1)).toMatchObject({ type: 'patch', clientId: 'http:carol', timestamp: 3 });
  });

  it('[LOG-1] a newcomer waits for what is pending: clientCount, its reconnect reply and diff', async () => {
    const { room, log } = await loggedRoom();
    const alice = await MemoryConnection.join(room, new EcsSyncTestClient('alice'));
    await settle();
    alice.flush();
    alice.client.edit({ a: { x: 1 } });
    alice.flush();

    // Bob edited offline: his reconnect carries a change of its own.
    const bobClient = new EcsSyncTestClient('bob');
    bobClient.edit({ b: { y: 2 } });
    const bob = await MemoryConnection.open(room, bobClient, 'bob-1');
    bob.deliverUp();
    await settle();
    expect(log.pendingTimestamps()).toEqual([1, 2]);
    expect(queued(bob)).toEqual([]);

    log.release(1);
    await settle();
    // clientCount was produced at version 1; the reply, at version 2, still waits.
    expect(queued(bob)).toEqual([{ type: 'clientCount', count: 2 }]);
    expect(queued(alice).map((m) => m.type)).toEqual(['ack', 'clientCount']);

    log.release();
    await settle();
    expect(queued(bob)).toEqual([
      { type: 'clientCount', count: 2 },
      { type: 'patch', documentPatches: room.diffSince(0), clientId: '', timestamp: 2 },
    ]);
    expect(queued(alice).at(-1)).toMatchObject({ type: 'patch', clientId: 'bob', timestamp: 2 });
    bob.flush();
    expect(bobClient.document()).toEqual({ a: { _exists: true, x: 1 }, b: { _exists: true, y: 2 } });
  });

  it('[LOG-1] subscribers get a change once durable; whenDurable resolves then (at once without a log)', async () => {
    const { room, log } = await loggedRoom();
    const events: DocumentChange[] = [];
    room.subscribe((change) => events.push(change));
    const version = room.applyPatches([{ a: { x: 1 } }], 'http:a');
    let durable = false;
    const waiting = room.whenDurable(version).then(() => (durable = true));
    await settle();
    expect(events).toEqual([]);
    expect(durable).toBe(false);

    log.release();
    await waiting;
    expect(durable).toBe(true);
    expect(events).toEqual([{ timestamp: 1, clientId: 'http:a', documentPatches: [{ a: { x: 1 } }] }]);
    await expect(room.whenDurable(0)).resolves.toBeUndefined();

    const plain = new Room({ onError: () => undefined });
    const v = plain.applyPatches([{ a: { x: 1 } }], 'http');
    let resolved = false;
    void plain.whenDurable(v).then(() => (resolved = true));
    await Promise.resolve();
    expect(resolved).toBe(true);
  });

  it('[LOG-1] a subscriber added after a change does not get it (its resume diff holds it)', async () => {
    const { room, log } = await loggedRoom();
    room.applyPatches([{ a: { x: 1 } }], 'http');
    const events: number[] = [];
    room.subscribe((change) => events.push(change.timestamp));
    room.applyPatches([{ a: { x: 2 } }], 'http');
    log.release();
    await settle();
    expect(events).toEqual([2]);
  });

  it('[LOG-1][SYNC-14] close() lets the outbox drain: acks reach their sockets, then sockets close and the room saves', async () => {
    const storage = new CountingStorage();
    const { room, log } = await loggedRoom({ storage });
    const alice = await MemoryConnection.join(room, new EcsSyncTestClient('alice'));
    await settle();
    alice.flush();
    alice.client.edit({ a: { x: 1 } });
    alice.deliverUp();

    const closed = room.close();
    await settle();
    expect(alice.closeCodes).toEqual([]);
    expect(storage.saves).toHaveLength(0);

    log.release();
    await closed;
    expect(alice.client.received.filter((m) => m.type === 'ack')).toEqual([
      { type: 'ack', messageId: 'alice-1', timestamp: 1 },
    ]);
    expect(alice.client.pendingCount()).toBe(0);
    expect(alice.closeCodes).toEqual([CloseCode.RoomClosed]);
    expect(storage.saves.map((s) => s.timestamp)).toEqual([1]);
  });
});

describe('[LOG-2] recovery = snapshot + the log after it', () => {
  it('[LOG-2] a room loaded from storage + log equals the room it recovers, reconnect answers included, and continues after its version', async () => {
    const storage = new CountingStorage();
    const log = new ControlledLog({ auto: true });
    const { room } = await loggedRoom({ storage, log });
    room.applyPatches([{ a: { x: 1, y: 1 }, b: { z: 1 } }], 'http');
    room.applyPatches([{ a: { y: 2 } }], 'http');
    await room.flush();
    room.applyPatches([{ b: { _exists: false } }], 'http');
    room.applyPatches([{ b: { w: 3 } }, { a: { x: 4 } }], 'http');
    room.applyPatches([{ c: { _exists: false } }], 'http');
    await settle();
    expect(storage.saves.at(-1)?.timestamp).toBe(2);
    expect(log.durable.map((c) => c.timestamp)).toEqual([3, 4, 5]);

    // No close, no final save: a crash.
    const recovered = new Room({
      storage: new MemoryStorage(storage.saves.at(-1)!),
      log,
      onError: () => undefined,
    });
    await recovered.load();
    expect(recovered.getSnapshot()).toEqual(room.getSnapshot());
    for (let t = 0; t <= room.getVersion() + 1; t++)
      expect(recovered.diffSince(t)).toEqual(room.diffSince(t));
    expect(recovered.applyPatches([{ d: { x: 1 } }], 'http')).toBe(6);
  });

  it('[LOG-2] versions are not re-issued after a crash: the next change gets a version above every durable one', async () => {
    const log = new ControlledLog({ auto: true });
    const { room } = await loggedRoom({ log });
    for (let i = 0; i < 5; i++) room.applyPatches([{ a: { x: i } }], 'http');
    const recovered = new Room({ log, onError: () => undefined });
    await recovered.load();
    expect(recovered.getVersion()).toBe(5);
    expect(recovered.applyPatches([{ a: { x: 9 } }], 'http')).toBe(6);
  });

  it('[LOG-2] a log out of order makes load() reject', async () => {
    const durable: LoggedChange[] = [
      { timestamp: 2, documentPatches: [{ a: { x: 1 } }] },
      { timestamp: 2, documentPatches: [{ a: { x: 2 } }] },
    ];
    const room = new Room({ log: new ControlledLog({ durable }), onError: () => undefined });
    await expect(room.load()).rejects.toThrow('out of order');
  });
});

describe('[LOG-3] a save truncates the log', () => {
  it('[LOG-3] after a save at T the log forgets changes up to T; a failed truncate is only reported', async () => {
    const log = new ControlledLog({ auto: true });
    const { room, errors } = await loggedRoom({ log });
    room.applyPatches([{ a: { x: 1 } }], 'http');
    room.applyPatches([{ a: { x: 2 } }], 'http');
    await room.flush();
    expect(log.truncations).toEqual([2]);
    expect(log.durable).toEqual([]);

    log.failTruncate = true;
    room.applyPatches([{ a: { x: 3 } }], 'http');
    await room.flush();
    expect(errors.map(([, context]) => context)).toEqual(['log truncate']);
    expect(log.durable.map((c) => c.timestamp)).toEqual([3]);
    expect(room.isClosed()).toBe(false);
    expect(room.applyPatches([{ a: { x: 4 } }], 'http')).toBe(4);
  });

  it('[LOG-3] truncation waits until the saved version is durable', async () => {
    const { room, log } = await loggedRoom();
    room.applyPatches([{ a: { x: 1 } }], 'http');
    const saved = room.flush();
    await settle();
    expect(log.truncations).toEqual([]);
    log.release();
    await saved;
    expect(log.truncations).toEqual([1]);
  });
});

describe('[LOG-4] a failed append fails the room', () => {
  it('[LOG-4] closes every socket with 4005, acks and broadcasts nothing it held, rejects whenDurable and does not save', async () => {
    const storage = new CountingStorage();
    const failed: unknown[] = [];
    const { room, log, errors } = await loggedRoom({ storage, onFailed: (_, e) => failed.push(e) });
    const alice = await MemoryConnection.join(room, new EcsSyncTestClient('alice'));
    const bob = await MemoryConnection.join(room, new EcsSyncTestClient('bob'));
    await settle();
    alice.flush();
    bob.flush();
    let ended = 0;
    const events: DocumentChange[] = [];
    room.subscribe(
      (change) => events.push(change),
      () => ended++,
    );
    const before = alice.client.received.length;
    const bobBefore = bob.client.received.length;

    alice.client.edit({ a: { x: 1 } });
    alice.flush();
    const version = room.applyPatches([{ b: { x: 2 } }], 'http');
    const durable = room.whenDurable(version);
    const error = new Error('disk gone');
    log.failOldest(error);
    await expect(durable).rejects.toBe(error);
    // The second append resolves after the failure: nothing is sent for it either.
    log.release();
    await room.close();

    expect(errors).toEqual([[error, 'log']]);
    expect(failed).toEqual([error]);
    expect(alice.closeCodes).toEqual([CloseCode.Internal]);
    expect(bob.closeCodes).toEqual([CloseCode.Internal]);
    expect(alice.client.received.slice(before)).toEqual([]);
    expect(bob.client.received.slice(bobBefore)).toEqual([]);
    expect(events).toEqual([]);
    expect(ended).toBe(1);
    expect(room.isClosed()).toBe(true);
    expect(() => room.applyPatches([{ c: {} }], 'http')).toThrow('room closed');
    expect(storage.saves).toHaveLength(0);
    await room.flush();
    expect(storage.saves).toHaveLength(0);
  });

  it('[LOG-4] a RoomManager drops a failed room; the next getRoom loads storage + log again', async () => {
    const disk = new MemoryStorage();
    const log = new ControlledLog();
    let failNext = false;
    const manager = new RoomManager({
      createStorage: () => disk,
      createLog: () => ({
        append: (change) => {
          if (!failNext) return log.append(change);
          failNext = false;
          return Promise.reject(new Error('disk gone'));
        },
        read: (after) => log.read(after),
        truncate: (through) => log.truncate(through),
      }),
      roomOptions: { onError: () => undefined },
    });
    try {
      const room = await manager.getRoom('r');
      const alice = await MemoryConnection.join(room, new EcsSyncTestClient('alice'));
      room.applyPatches([{ a: { x: 1 } }], 'http');
      log.release();
      await room.whenDurable(1);
      failNext = true;
      alice.client.edit({ a: { x: 2 } });
      alice.flush();
      await settle();
      expect(alice.closeCodes).toEqual([CloseCode.Internal]);

      const reloaded = await manager.getRoom('r');
      expect(reloaded).not.toBe(room);
      expect(reloaded.getSnapshot().state).toEqual({ a: { _exists: true, x: 1 } });
      // The lost change's version is free again (it was never acked nor sent to anyone).
      expect(reloaded.getVersion()).toBe(1);
      const again = await MemoryConnection.join(reloaded, alice.client, 'alice-2');
      log.release();
      await settle();
      again.flush();
      expect(alice.client.document()).toEqual({ a: { _exists: true, x: 1 } });
    } finally {
      log.release();
      await manager.closeAll();
    }
  });
});
