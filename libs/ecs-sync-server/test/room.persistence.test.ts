import { describe, expect, it } from 'vitest';
import { MemoryStorage, Room, type Patch, type RoomSnapshot } from '../src/index.js';
import { CountingStorage } from './helpers/CountingStorage.js';
import { EcsSyncTestClient } from '@p3/test-support';
import { MemoryConnection } from './helpers/MemoryConnection.js';

async function edit(
  connection: MemoryConnection,
  document: Patch | undefined,
  ephemeral?: Patch,
): Promise<void> {
  connection.client.edit(document, ephemeral);
  connection.flush();
  await Promise.resolve();
}

describe('[SAVE-1] throttled saves', () => {
  it('coalesces a burst into one save of the latest state, then saves again only after new changes', async () => {
    const storage = new CountingStorage();
    const saveTimes: number[] = [];
    const throttle = 40;
    const room = new Room({ storage, saveThrottleMs: throttle, onDataChange: () => undefined });
    const original = storage.save.bind(storage);
    storage.save = (snapshot) => {
      saveTimes.push(Date.now());
      return original(snapshot);
    };
    const alice = await MemoryConnection.join(room, new EcsSyncTestClient('alice'));
    for (let i = 1; i <= 5; i++) await edit(alice, { e: { x: i } });
    expect(storage.saves).toHaveLength(0);
    await storage.waitForSaves(1);
    expect(storage.saves[0]!.timestamp).toBe(5);
    expect(storage.saves[0]!.state.e).toEqual({ _exists: true, x: 5 });

    // Nothing unsaved: a flush writes nothing.
    await room.flush();
    expect(storage.saves).toHaveLength(1);

    for (let i = 6; i <= 8; i++) await edit(alice, { e: { x: i } });
    await storage.waitForSaves(2);
    expect(storage.saves[1]!.timestamp).toBe(8);
    expect(saveTimes[1]! - saveTimes[0]!).toBeGreaterThanOrEqual(throttle - 1);
    await room.close();
    expect(storage.saves).toHaveLength(2);
  });

  it('ephemeral-only and empty messages schedule no save', async () => {
    const storage = new CountingStorage();
    const room = new Room({ storage, saveThrottleMs: 0 });
    const alice = await MemoryConnection.join(room, new EcsSyncTestClient('alice'));
    await edit(alice, undefined, { 'alice/Cursor': { x: 1 } });
    await edit(alice, {});
    await room.flush();
    expect(storage.saves).toHaveLength(0);
  });

  it('close() saves at once, whatever the throttle', async () => {
    const storage = new CountingStorage();
    const room = new Room({ storage, saveThrottleMs: 60_000 });
    const alice = await MemoryConnection.join(room, new EcsSyncTestClient('alice'));
    await edit(alice, { e: { x: 1 } });
    await room.close();
    expect(storage.saves.map((s) => s.timestamp)).toEqual([1]);
  });
});

describe('[SAVE-2] storage failures', () => {
  it('are reported, do not stop the room, and are retried at the next change', async () => {
    const storage = new CountingStorage();
    storage.failNext = 1;
    let reported!: (value: [unknown, string]) => void;
    const failure = new Promise<[unknown, string]>((resolve) => (reported = resolve));
    const room = new Room({
      storage,
      saveThrottleMs: 5,
      onError: (error, context) => reported([error, context]),
    });
    const alice = await MemoryConnection.join(room, new EcsSyncTestClient('alice'));
    await edit(alice, { e: { x: 1 } });
    const [error, context] = await failure;
    expect((error as Error).message).toBe('disk full');
    expect(context).toBe('save');
    expect(storage.saves).toHaveLength(0);

    await edit(alice, { e: { y: 2 } });
    expect(alice.client.received.at(-1)).toEqual({ type: 'ack', messageId: 'alice-2', timestamp: 2 });
    await storage.waitForSaves(1);
    expect(storage.saves[0]!.timestamp).toBe(2);
    expect(storage.saves[0]!.state.e).toEqual({ _exists: true, x: 1, y: 2 });
  });

  it('flush() rejects when the save fails and succeeds on retry; close() reports but resolves', async () => {
    const storage = new CountingStorage();
    const contexts: string[] = [];
    const room = new Room({
      storage,
      saveThrottleMs: 60_000,
      onError: (_, context) => contexts.push(context),
    });
    const alice = await MemoryConnection.join(room, new EcsSyncTestClient('alice'));
    await edit(alice, { e: { x: 1 } });
    storage.failNext = 1;
    await expect(room.flush()).rejects.toThrow('disk full');
    await room.flush();
    expect(storage.saves).toHaveLength(1);
    await edit(alice, { e: { x: 2 } });
    storage.failNext = 1;
    await room.close();
    expect(contexts).toEqual(['save', 'final save']);
  });
});

/** A history with updates, deletions, re-creations and several patches per message. */
async function buildHistory(room: Room): Promise<void> {
  const alice = await MemoryConnection.join(room, new EcsSyncTestClient('alice'));
  const steps: Patch[][] = [
    [{ a: { x: 1, y: 1 }, b: { v: 'one' } }, { c: { list: [1, 2, { deep: true }] } }],
    [{ a: { x: 2 } }],
    [{ b: { _exists: false } }],
    [{ c: { _exists: false } }, { c: { list: [] } }],
    [{ d: { n: null } }],
    [{ a: { _exists: false } }],
    [{ a: { z: 3 } }],
  ];
  for (const patches of steps) {
    alice.client.sendJson({ type: 'patch', messageId: `m${Math.random()}`, documentPatches: patches });
    alice.flush();
  }
  alice.clientDrops({ lose: false, zombie: false });
}

/** What a client with `lastTimestamp` gets from a room on reconnect. */
async function replyFor(room: Room, lastTimestamp: number): Promise<unknown> {
  const client = new EcsSyncTestClient(`probe-${lastTimestamp}`);
  client.lastTimestamp = lastTimestamp;
  const connection = await MemoryConnection.join(room, client);
  connection.clientDrops({ lose: true, zombie: false });
  return client.received.find((m) => m.type === 'patch' && m.clientId === '');
}

describe('[SNAP-1] snapshots', () => {
  it('a room created from getSnapshot() (through JSON) answers every reconnect exactly like the original', async () => {
    const original = new Room();
    await buildHistory(original);
    const snapshot = original.getSnapshot();
    expect(snapshot.timestamp).toBe(7);
    expect(snapshot.state).toEqual({
      a: { _exists: true, z: 3 },
      b: { _exists: false },
      c: { _exists: true, list: [] },
      d: { _exists: true, n: null },
    });
    expect(snapshot.timestamps.a).toEqual({ _exists: 7, z: 7 });
    expect(snapshot.clearedAt).toEqual({ a: 6, c: 4 });

    const copy = new Room({ initialSnapshot: JSON.parse(JSON.stringify(snapshot)) as RoomSnapshot });
    expect(copy.getSnapshot()).toEqual(snapshot);
    for (let t = 0; t <= 9; t++) expect(await replyFor(copy, t)).toEqual(await replyFor(original, t));

    // And they keep behaving alike.
    for (const room of [original, copy]) {
      const bob = await MemoryConnection.join(room, new EcsSyncTestClient('bob'));
      await edit(bob, { b: { v: 'two' } });
    }
    expect(copy.getSnapshot()).toEqual(original.getSnapshot());
  });

  it('load() restores from storage; a room with initialSnapshot never reads storage', async () => {
    const source = new Room();
    await buildHistory(source);
    const storage = new CountingStorage(source.getSnapshot());
    const loaded = new Room({ storage });
    await loaded.load();
    await loaded.load();
    expect(storage.loads).toBe(1);
    expect(loaded.getSnapshot()).toEqual(source.getSnapshot());

    const given = new Room({
      storage,
      initialSnapshot: { timestamp: 3, state: { k: { v: 1 } }, timestamps: {} },
    });
    await given.load();
    expect(storage.loads).toBe(1);
    // A snapshot without field timestamps or _exists (older servers) loads as existing keys at its timestamp,
    // and reads back as it was given ([SNAP-2]).
    expect(given.getSnapshot()).toEqual({ timestamp: 3, state: { k: { v: 1 } }, timestamps: {} });
    expect(await replyFor(given, 0)).toEqual({
      type: 'patch',
      documentPatches: [{ k: { v: 1, _exists: true } }],
      clientId: '',
      timestamp: 3,
    });
  });

  it('load() of an empty storage starts empty; a failed load rejects and can be retried', async () => {
    const empty = new Room({ storage: new MemoryStorage() });
    await empty.load();
    expect(empty.getSnapshot()).toEqual({ timestamp: 0, state: {}, timestamps: {} });

    let fail = true;
    const flaky = {
      load: () =>
        fail
          ? Promise.reject(new Error('unreachable'))
          : Promise.resolve({
              timestamp: 2,
              state: { k: { _exists: true } },
              timestamps: { k: { _exists: 2 } },
            }),
      save: () => Promise.resolve(),
    };
    const room = new Room({ storage: flaky });
    await expect(room.load()).rejects.toThrow('unreachable');
    fail = false;
    await room.load();
    expect(room.getSnapshot().timestamp).toBe(2);
  });

  it('refuses invalid snapshots and options', () => {
    expect(() => new Room({ initialSnapshot: { timestamp: -1, state: {}, timestamps: {} } })).toThrow(
      TypeError,
    );
    expect(
      () => new Room({ initialSnapshot: { timestamp: 1, state: { k: { _exists: 'yes' } }, timestamps: {} } }),
    ).toThrow('_exists must be a boolean');
    expect(
      () =>
        new Room({
          initialSnapshot: JSON.parse(
            '{"timestamp":1,"state":{"__proto__":{}},"timestamps":{}}',
          ) as RoomSnapshot,
        }),
    ).toThrow('forbidden key');
    expect(() => new Room({ saveThrottleMs: -1 })).toThrow(RangeError);
    expect(() => new Room({ maxMessageBytes: 0 })).toThrow(RangeError);
    expect(() => new Room({ maxMessageBytes: Number.NaN })).toThrow(RangeError);
  });

  it('field names that shadow Object.prototype members round-trip', () => {
    const snapshot: RoomSnapshot = {
      timestamp: 2,
      state: { k: { toString: 1, valueOf: 'v', _exists: true } },
      timestamps: { k: { _exists: 1 } },
    };
    const room = new Room({ initialSnapshot: snapshot });
    expect(room.getSnapshot()).toEqual(snapshot);
    expect(Object.keys(room.getSnapshot().timestamps.k!)).toEqual(['_exists']);
    room.applyPatches([{ k: { other: 1 } }], 'server');
    expect(room.getSnapshot().timestamps).toEqual({ k: { _exists: 1, toString: 2, valueOf: 2, other: 3 } });
  });
});

describe('[SNAP-2] a loaded snapshot reads back in its own shape', () => {
  /** The upstream server's shape: live keys without `_exists`, every field timestamped. */
  const upstream = (): RoomSnapshot => ({
    timestamp: 9,
    state: {
      'e1/Pos': { x: 1, y: 2 },
      'e2/Pos': { x: 5 },
      'e3/Tag': {},
      'e4/Pos': { _exists: false },
      'e5/Pos': { _exists: true, x: 0 },
    },
    timestamps: {
      'e1/Pos': { x: 4, y: 7 },
      'e2/Pos': { x: 9 },
      'e3/Tag': {},
      'e4/Pos': { _exists: 8 },
      'e5/Pos': { _exists: 2, x: 2 },
    },
  });

  it('getSnapshot() returns a snapshot from storage or initialSnapshot unchanged, byte for byte', async () => {
    const stored = upstream();
    const bytes = JSON.stringify(stored);
    const fromStorage = new Room({ storage: new MemoryStorage(stored) });
    await fromStorage.load();
    const given = new Room({ initialSnapshot: upstream() });
    for (const room of [fromStorage, given]) {
      expect(room.getSnapshot()).toEqual(stored);
      expect(JSON.stringify(room.getSnapshot())).toBe(bytes);
    }
  });

  it('a changed key takes the room shape; untouched keys keep theirs; a reload answers every reconnect alike ([SNAP-1])', async () => {
    const room = new Room({ initialSnapshot: upstream() });
    room.applyPatches([{ 'e1/Pos': { x: 2 } }, { 'e4/Pos': { x: 1 } }], 'server');
    const snapshot = room.getSnapshot();
    expect(snapshot.state).toEqual({
      'e1/Pos': { x: 2, y: 2, _exists: true },
      'e2/Pos': { x: 5 },
      'e3/Tag': {},
      'e4/Pos': { _exists: true, x: 1 },
      'e5/Pos': { _exists: true, x: 0 },
    });
    expect(snapshot.timestamps['e1/Pos']).toEqual({ x: 10, y: 7, _exists: 7 });
    expect(snapshot.timestamps['e2/Pos']).toEqual({ x: 9 });
    const reloaded = new Room({ initialSnapshot: JSON.parse(JSON.stringify(snapshot)) as RoomSnapshot });
    expect(reloaded.getSnapshot()).toEqual(snapshot);
    for (let t = 0; t <= 11; t++) expect(await replyFor(reloaded, t)).toEqual(await replyFor(room, t));
  });

  it('missing field timestamps stay missing while the room is at the snapshot timestamp, then are written out', async () => {
    const stored: RoomSnapshot = {
      timestamp: 5,
      state: { a: { v: 1 }, b: { w: 2 } },
      timestamps: { b: { w: 3 } },
    };
    const room = new Room({ initialSnapshot: stored });
    expect(room.getSnapshot()).toEqual(stored);
    room.applyPatches([{ c: { z: 1 } }], 'server');
    const moved = room.getSnapshot();
    // A reload at timestamp 6 would date a's field at 6: it is written out at 5 instead.
    expect(moved.timestamps).toEqual({ a: { v: 5 }, b: { w: 3 }, c: { z: 6, _exists: 6 } });
    const reloaded = new Room({ initialSnapshot: JSON.parse(JSON.stringify(moved)) as RoomSnapshot });
    for (let t = 0; t <= 7; t++) expect(await replyFor(reloaded, t)).toEqual(await replyFor(room, t));
  });
});
