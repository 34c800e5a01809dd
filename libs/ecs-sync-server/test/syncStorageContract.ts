import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Room, type Patch, type RoomSnapshot, type SyncStorage } from '../src/index.js';
import { EcsSyncTestClient } from '@p3/test-support';
import { MemoryConnection } from './helpers/MemoryConnection.js';

/** A snapshot exercising what storages tend to get wrong. */
export function sampleSnapshot(timestamp = 9): RoomSnapshot {
  return {
    timestamp,
    state: {
      'e1/Position': { _exists: true, x: 0.1 + 0.2, y: -1e-7, big: 2 ** 53 - 1, huge: 1e300 },
      'e2/Shape': { _exists: false },
      'e3/Text': {
        _exists: true,
        text: 'héllo 🌍 "quoted" \\ \n tab\t',
        nul: 'a\u0000b',
        lone: '\ud800x',
        empty: '',
      },
      'SINGLETON/Camera': { _exists: true, nested: { list: [1, [2, [3]], { k: null }], flag: false } },
      'e4/Recreated': { _exists: true, v: 1 },
    },
    timestamps: {
      'e1/Position': { _exists: 1, x: 3, y: 3, big: 1, huge: 1 },
      'e2/Shape': { _exists: 4 },
      'e3/Text': { _exists: 2, text: 2, nul: 2, lone: 2, empty: 2 },
      'SINGLETON/Camera': { _exists: 5, nested: timestamp },
      'e4/Recreated': { _exists: 8, v: 8 },
    },
    clearedAt: { 'e4/Recreated': 6 },
  };
}

/**
 * The SyncStorage contract ([STORAGE-1]), run against every implementation. `make(roomId)` returns a storage of
 * that room; every test uses fresh room ids, so implementations backed by one directory or table can share it.
 */
export function describeSyncStorageContract(
  name: string,
  make: (roomId: string) => SyncStorage | Promise<SyncStorage>,
): void {
  const fresh = (label: string) => make(`${label}-${randomUUID()}`);

  describe(`[STORAGE-1] SyncStorage contract: ${name}`, () => {
    it('load() of a room never saved is null', async () => {
      expect(await (await fresh('empty')).load()).toBeNull();
    });

    it('save then load round-trips tombstones, clearedAt, nested JSON and any Unicode', async () => {
      const storage = await fresh('roundtrip');
      const snapshot = sampleSnapshot();
      await storage.save(snapshot);
      expect(await storage.load()).toEqual(snapshot);
    });

    it('a minimal seed-shaped snapshot round-trips', async () => {
      const storage = await fresh('minimal');
      await storage.save({ timestamp: 0, state: {}, timestamps: {} });
      expect(await storage.load()).toEqual({ timestamp: 0, state: {}, timestamps: {} });
    });

    it('the last save wins, sequentially and when saves are issued together', async () => {
      const storage = await fresh('last');
      for (let t = 1; t <= 3; t++) await storage.save(sampleSnapshot(t));
      expect((await storage.load())?.timestamp).toBe(3);
      await Promise.all([4, 5, 6, 7].map((t) => storage.save(sampleSnapshot(t))));
      expect(await storage.load()).toEqual(sampleSnapshot(7));
    });

    it('rooms are isolated, whatever their ids', async () => {
      const ids = ['a/b', '..', 'ü ñ', 'x'.repeat(100), `${randomUUID()}?#%`].map(
        (id) => `${id}-${randomUUID()}`,
      );
      const storages = await Promise.all(ids.map((id) => make(id)));
      await Promise.all(
        storages.map((s, i) =>
          s.save({
            timestamp: i + 1,
            state: { k: { _exists: true, i } },
            timestamps: { k: { _exists: i + 1, i: i + 1 } },
          }),
        ),
      );
      for (const [i, id] of ids.entries()) {
        const reopened = await make(id);
        expect((await reopened.load())?.state.k).toEqual({ _exists: true, i });
      }
    });

    it('loaded snapshots are not aliased to saved ones', async () => {
      const storage = await fresh('alias');
      const snapshot = structuredClone(sampleSnapshot()) as {
        state: Record<string, Record<string, unknown>>;
      } & RoomSnapshot;
      await storage.save(snapshot);
      snapshot.state['e1/Position']!.x = 'mutated after save';
      const loaded = (await storage.load()) as {
        state: Record<string, Record<string, unknown>>;
      } & RoomSnapshot;
      expect(loaded.state['e1/Position']!.x).toBe(0.1 + 0.2);
      loaded.state['e1/Position']!.x = 'mutated after load';
      expect((await storage.load())?.state['e1/Position']!.x).toBe(0.1 + 0.2);
    });

    it('a room saved through it is restored identically by a new room', async () => {
      const roomId = `room-${randomUUID()}`;
      const room = new Room({ storage: await make(roomId), saveThrottleMs: 60_000 });
      await room.load();
      const alice = await MemoryConnection.join(room, new EcsSyncTestClient('alice'));
      const patches: Patch[] = [
        { a: { x: 1 } },
        { b: { y: 'two' } },
        { a: { _exists: false } },
        { a: { z: [3] } },
      ];
      for (const patch of patches) {
        alice.client.edit(patch);
        alice.flush();
      }
      await room.close();
      const restored = new Room({ storage: await make(roomId) });
      await restored.load();
      expect(restored.getSnapshot()).toEqual(room.getSnapshot());
      expect(restored.getSnapshot().clearedAt).toEqual({ a: 3 });
    });
  });
}
