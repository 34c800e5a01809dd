import { afterEach, describe, expect, it } from 'vitest';
import {
  MemoryStorage,
  RoomManager,
  type RoomSnapshot,
  type SessionRemovedInfo,
  type SyncStorage,
} from '../src/index.js';
import { ClosableCountingStorage } from './helpers/ClosableCountingStorage.js';
import { EcsSyncTestClient } from '@p3/test-support';
import { MemoryConnection } from './helpers/MemoryConnection.js';

/** One durable "disk" per room id; each (re)load gets a fresh closable storage over it. */
class Disks {
  readonly disks = new Map<string, MemoryStorage>();
  readonly storages: ClosableCountingStorage[] = [];

  create = (roomId: string): ClosableCountingStorage => {
    const disk = this.disks.get(roomId) ?? new MemoryStorage();
    this.disks.set(roomId, disk);
    const storage = new ClosableCountingStorage();
    storage.load = () => {
      storage.loads++;
      return disk.load();
    };
    const save = storage.save.bind(storage);
    storage.save = async (snapshot: RoomSnapshot) => {
      await save(snapshot);
      await disk.save(snapshot);
    };
    this.storages.push(storage);
    return storage;
  };
}

let manager: RoomManager | undefined;
afterEach(async () => {
  await manager?.closeAll();
  manager = undefined;
});

describe('RoomManager', () => {
  it('[MGR-1] concurrent getRoom calls for one id share one load', async () => {
    const disks = new Disks();
    manager = new RoomManager({ createStorage: disks.create });
    const rooms = await Promise.all([manager.getRoom('a'), manager.getRoom('a'), manager.getRoom('a')]);
    expect(new Set(rooms).size).toBe(1);
    expect(disks.storages).toHaveLength(1);
    expect(disks.storages[0]!.loads).toBe(1);
    expect(await manager.getRoom('a')).toBe(rooms[0]);
    await manager.getRoom('b');
    expect(manager.getRoomIds().sort()).toEqual(['a', 'b']);
  });

  it('[MGR-2] an idle room is saved, closed and dropped; a later getRoom loads it again', async () => {
    const disks = new Disks();
    const removed: SessionRemovedInfo[] = [];
    manager = new RoomManager({
      createStorage: disks.create,
      idleTimeout: 20,
      roomOptions: { saveThrottleMs: 60_000, onSessionRemoved: (_, info) => removed.push(info) },
    });
    const room = await manager.getRoom('doc');
    const alice = await MemoryConnection.join(room, new EcsSyncTestClient('alice'), 'sa');
    alice.client.edit({ e: { x: 1 } });
    alice.flush();
    alice.clientDrops({ lose: false, zombie: false });
    expect(removed).toEqual([{ sessionId: 'sa', remaining: 0 }]);

    const first = disks.storages[0]!;
    await first.closed;
    expect(first.saves.map((s) => s.timestamp)).toEqual([1]);
    expect(manager.getRoomIds()).toEqual([]);

    const again = await manager.getRoom('doc');
    expect(again).not.toBe(room);
    expect(disks.storages[1]!.loads).toBe(1);
    expect(again.getSnapshot()).toEqual(room.getSnapshot());
  });

  it('[MGR-2] a room that was never joined is dropped after idleTimeout too', async () => {
    const disks = new Disks();
    manager = new RoomManager({ createStorage: disks.create, idleTimeout: 10 });
    await manager.getRoom('lonely');
    await disks.storages[0]!.closed;
    expect(manager.getRoomIds()).toEqual([]);
    expect(disks.storages[0]!.saves).toEqual([]);
  });

  it('[MGR-2] a room with sessions stays open', async () => {
    const disks = new Disks();
    manager = new RoomManager({ createStorage: disks.create, idleTimeout: 10 });
    const room = await manager.getRoom('busy');
    const alice = await MemoryConnection.join(room, new EcsSyncTestClient('alice'));
    // Three idle periods pass with a session connected.
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(manager.getRoomIds()).toEqual(['busy']);
    expect(await manager.getRoom('busy')).toBe(room);
    alice.clientDrops({ lose: false, zombie: false });
    await disks.storages[0]!.closed;
    expect(manager.getRoomIds()).toEqual([]);
  });

  it('[MGR-2] getRoom while an idle room is closing waits and loads the final save', async () => {
    const disks = new Disks();
    let releaseSave!: () => void;
    let saveStarted!: () => void;
    const saveGate = new Promise<void>((resolve) => (releaseSave = resolve));
    const started = new Promise<void>((resolve) => (saveStarted = resolve));
    const slow = (roomId: string): SyncStorage => {
      const storage = disks.create(roomId);
      const save = storage.save;
      storage.save = async (snapshot) => {
        saveStarted();
        await saveGate;
        await save(snapshot);
      };
      return storage;
    };
    manager = new RoomManager({
      createStorage: slow,
      idleTimeout: 5,
      roomOptions: { saveThrottleMs: 60_000 },
    });
    const room = await manager.getRoom('doc');
    const alice = await MemoryConnection.join(room, new EcsSyncTestClient('alice'));
    alice.client.edit({ e: { x: 7 } });
    alice.flush();
    alice.clientDrops({ lose: false, zombie: false });
    // Once the idle close started its (gated) final save, ask for the room.
    await started;
    expect(manager.getRoomIds()).toEqual(['doc']);
    const next = manager.getRoom('doc');
    releaseSave();
    const reloaded = await next;
    expect(reloaded).not.toBe(room);
    expect(reloaded.getSnapshot().state.e).toEqual({ _exists: true, x: 7 });
  });

  it('[MGR-2] when the final save fails the room stays open and is retried', async () => {
    const disks = new Disks();
    const errors: string[] = [];
    manager = new RoomManager({
      createStorage: disks.create,
      idleTimeout: 10,
      roomOptions: { saveThrottleMs: 60_000, onError: (_, c) => errors.push(c) },
    });
    const room = await manager.getRoom('doc');
    const storage = disks.storages[0]!;
    storage.failNext = 1;
    const alice = await MemoryConnection.join(room, new EcsSyncTestClient('alice'));
    alice.client.edit({ e: { x: 1 } });
    alice.flush();
    alice.clientDrops({ lose: false, zombie: false });
    await storage.closed;
    expect(errors).toEqual(['save']);
    expect(storage.saves.map((s) => s.timestamp)).toEqual([1]);
  });

  it('[MGR-1] a failed load rejects, is forgotten, and a later getRoom retries', async () => {
    let attempts = 0;
    manager = new RoomManager({
      createStorage: () => ({
        load: () => (++attempts === 1 ? Promise.reject(new Error('storage down')) : Promise.resolve(null)),
        save: () => Promise.resolve(),
      }),
    });
    await expect(manager.getRoom('x')).rejects.toThrow('storage down');
    expect(manager.getRoomIds()).toEqual([]);
    const room = await manager.getRoom('x');
    expect(room.getSessionCount()).toBe(0);
  });

  it('closeAll closes every room (saving it) and its storage', async () => {
    const disks = new Disks();
    manager = new RoomManager({ createStorage: disks.create, roomOptions: { saveThrottleMs: 60_000 } });
    const a = await manager.getRoom('a');
    await manager.getRoom('b');
    const alice = await MemoryConnection.join(a, new EcsSyncTestClient('alice'));
    alice.client.edit({ e: { x: 1 } });
    alice.flush();
    await manager.closeAll();
    expect(alice.closeCodes).toEqual([4003]);
    expect(manager.getRoomIds()).toEqual([]);
    expect(disks.storages[0]!.saves.map((s) => s.timestamp)).toEqual([1]);
    await Promise.all(disks.storages.map((s) => s.closed));
  });

  it('[MGR-3] after room.close() getRoom loads a fresh room from the final save, and it accepts sockets', async () => {
    const disks = new Disks();
    manager = new RoomManager({ createStorage: disks.create, roomOptions: { saveThrottleMs: 60_000 } });
    const room = await manager.getRoom('doc');
    const alice = await MemoryConnection.join(room, new EcsSyncTestClient('alice'));
    alice.client.edit({ e: { x: 1 } });
    alice.flush();
    // Closed by its owner, not through the manager: the manager must not hand the closed room out again.
    void room.close();
    const fresh = await manager.getRoom('doc');
    expect(fresh).not.toBe(room);
    expect(fresh.isClosed()).toBe(false);
    expect(fresh.getSnapshot().state.e).toEqual({ _exists: true, x: 1 });
    const bob = await MemoryConnection.join(fresh, new EcsSyncTestClient('bob'));
    expect(bob.closeCodes).toEqual([]);
    expect(fresh.getSessionCount()).toBe(1);
    expect(manager.getExistingRoom('doc')).toBe(fresh);
  });

  it('[MGR-4] closeRoom(id) closes the room (sockets get 4003, it is saved, its storage closed) and forgets it', async () => {
    const disks = new Disks();
    manager = new RoomManager({ createStorage: disks.create, roomOptions: { saveThrottleMs: 60_000 } });
    const room = await manager.getRoom('doc');
    const alice = await MemoryConnection.join(room, new EcsSyncTestClient('alice'));
    alice.client.edit({ e: { x: 2 } });
    alice.flush();
    await manager.closeRoom('doc');
    expect(alice.closeCodes).toEqual([4003]);
    expect(room.isClosed()).toBe(true);
    expect(disks.storages[0]!.saves.map((s) => s.timestamp)).toEqual([1]);
    await disks.storages[0]!.closed;
    expect(manager.getRoomIds()).toEqual([]);
    expect(manager.getExistingRoom('doc')).toBeUndefined();
    // Unknown ids (and a second close) are no-ops.
    await manager.closeRoom('doc');
    await manager.closeRoom('never-opened');
    const again = await manager.getRoom('doc');
    expect(again).not.toBe(room);
    expect(again.getSnapshot().state.e).toEqual({ _exists: true, x: 2 });
  });

  it('[MGR-4] getRoom during closeRoom waits for the close and loads the final save', async () => {
    const disks = new Disks();
    manager = new RoomManager({ createStorage: disks.create, roomOptions: { saveThrottleMs: 60_000 } });
    const room = await manager.getRoom('doc');
    room.applyPatches([{ e: { x: 3 } }], 'server');
    const closing = manager.closeRoom('doc');
    const next = await manager.getRoom('doc');
    await closing;
    expect(next).not.toBe(room);
    expect(next.getSnapshot().state.e).toEqual({ _exists: true, x: 3 });
  });

  it('[MGR-4] getExistingRoom answers only a loaded, open room and never loads one', async () => {
    const disks = new Disks();
    manager = new RoomManager({ createStorage: disks.create });
    expect(manager.getExistingRoom('doc')).toBeUndefined();
    expect(disks.storages).toHaveLength(0);
    const loading = manager.getRoom('doc');
    expect(manager.getExistingRoom('doc')).toBeUndefined();
    const room = await loading;
    expect(manager.getExistingRoom('doc')).toBe(room);
    void room.close();
    expect(manager.getExistingRoom('doc')).toBeUndefined();
  });

  it('validates idleTimeout', () => {
    expect(() => new RoomManager({ createStorage: () => new MemoryStorage(), idleTimeout: -1 })).toThrow(
      RangeError,
    );
  });
});
