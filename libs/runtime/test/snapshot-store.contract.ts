import { describe, expect, it } from 'vitest';
import type { RoomKey, SnapshotStore } from '@p3/runtime';

/** Every SnapshotStore keeps these promises (see the interface doc). Run against each implementation. */
export function describeSnapshotStoreContract(name: string, make: () => Promise<SnapshotStore>): void {
  describe(`SnapshotStore contract: ${name}`, () => {
    const key = (): RoomKey => ({ tenant: 't', room: `room-${Math.random().toString(36).slice(2)}` });

    it('returns null for a room never saved', async () => {
      const store = await make();
      expect(await store.load(key())).toBeNull();
      await store.close();
    });

    it('returns what was saved last', async () => {
      const store = await make();
      const k = key();
      expect(await store.save(k, { kind: 'world', version: 1, epoch: 0, data: { a: 1 } })).toBe('saved');
      expect(
        await store.save(k, { kind: 'world', version: 2, epoch: 0, data: { a: 2, nested: { b: [1, 'x'] } } }),
      ).toBe('saved');
      expect(await store.load(k)).toEqual({
        kind: 'world',
        version: 2,
        epoch: 0,
        data: { a: 2, nested: { b: [1, 'x'] } },
      });
      await store.close();
    });

    it('never replaces a newer version or epoch (fencing)', async () => {
      const store = await make();
      const k = key();
      await store.save(k, { kind: 'world', version: 5, epoch: 2, data: 'new' });
      expect(await store.save(k, { kind: 'world', version: 9, epoch: 1, data: 'old owner' })).toBe('stale');
      expect(await store.save(k, { kind: 'world', version: 4, epoch: 2, data: 'older version' })).toBe(
        'stale',
      );
      expect((await store.load(k))?.data).toBe('new');
      expect(await store.save(k, { kind: 'world', version: 1, epoch: 3, data: 'next owner' })).toBe('saved');
      expect((await store.load(k))?.data).toBe('next owner');
      await store.close();
    });

    it('keeps the owning team with the snapshot', async () => {
      const store = await make();
      const k = key();
      await store.save(k, { kind: 'document', version: 1, epoch: 0, data: {}, team: 'blue' });
      expect((await store.load(k))?.team).toBe('blue');
      await store.close();
    });

    it('keeps tenants apart', async () => {
      const store = await make();
      const room = `shared-${Math.random()}`;
      await store.save({ tenant: 'a', room }, { kind: 'document', version: 1, epoch: 0, data: 'A' });
      await store.save({ tenant: 'b', room }, { kind: 'document', version: 1, epoch: 0, data: 'B' });
      expect((await store.load({ tenant: 'a', room }))?.data).toBe('A');
      expect((await store.load({ tenant: 'b', room }))?.data).toBe('B');
      await store.close();
    });

    it('serializes concurrent saves of one room: the highest version wins', async () => {
      const store = await make();
      const k = key();
      await Promise.all(
        [3, 1, 2].map((version) => store.save(k, { kind: 'world', version, epoch: 0, data: version })),
      );
      expect((await store.load(k))?.version).toBe(3);
      await store.close();
    });
  });
}
