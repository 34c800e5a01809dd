import { afterEach, describe, expect, it } from 'vitest';
import {
  RoomManager,
  MemoryStorage,
  type DocumentChange,
  type EcsSyncServerMessage,
  type PatchBroadcast,
} from '../src/index.js';
import { roomFixture, type RoomFixture } from './helpers/roomFixture.js';

let fixture: RoomFixture | undefined;
afterEach(async () => {
  await fixture?.dispose();
  fixture = undefined;
});

const isPatchFrom =
  (clientId: string) =>
  (m: EcsSyncServerMessage): m is PatchBroadcast =>
    m.type === 'patch' && m.clientId === clientId;

describe('Room API beyond the seed (HTTP and server-sent events use it)', () => {
  it('[API-1] applyPatches applies at one new timestamp and broadcasts to every session as the origin', async () => {
    fixture = await roomFixture();
    const alice = await fixture.join('alice');
    const version = fixture.room.applyPatches([{ 'e1/Pos': { x: 1 } }, { 'e2/Pos': { y: 2 } }], 'http:bob');
    expect(version).toBe(1);
    const broadcast = await alice.waitFor(isPatchFrom('http:bob'));
    expect(broadcast).toMatchObject({
      timestamp: 1,
      documentPatches: [{ 'e1/Pos': { x: 1 } }, { 'e2/Pos': { y: 2 } }],
    });
    expect(fixture.room.applyPatches([{}], 'http:bob')).toBe(1);
    expect(fixture.room.getVersion()).toBe(1);
  });

  it('[API-2] changesSince answers per-field deltas with tombstones', async () => {
    fixture = await roomFixture();
    fixture.room.applyPatches([{ a: { x: 1, y: 1 }, b: { z: 1 } }], 'http');
    fixture.room.applyPatches([{ a: { y: 2 }, b: { _exists: false } }], 'http');
    const delta = fixture.room.changesSince(1);
    expect(delta.complete).toBe(true);
    if (!delta.complete) return;
    expect(delta.changes.map((c) => [c.key, c.fields])).toEqual([
      ['a', { y: 2 }],
      ['b', { _exists: false }],
    ]);
  });

  it('[API-3] subscribers get every document change, from sessions and from applyPatches, not ephemeral ones', async () => {
    fixture = await roomFixture();
    const changes: DocumentChange[] = [];
    const unsubscribe = fixture.room.subscribe((change) => changes.push(change));
    const alice = await fixture.join('alice');
    alice.edit({ 'e1/Pos': { x: 5 } });
    await alice.sync();
    alice.edit(undefined, { 'alice/Cursor': { x: 1 } });
    await alice.sync();
    fixture.room.applyPatches([{ 'e1/Pos': { x: 6 } }], 'http:bob');
    unsubscribe();
    fixture.room.applyPatches([{ 'e1/Pos': { x: 7 } }], 'http:bob');
    expect(changes.map((c) => [c.timestamp, c.clientId, c.documentPatches])).toEqual([
      [1, 'alice', [{ 'e1/Pos': { x: 5 } }]],
      [2, 'http:bob', [{ 'e1/Pos': { x: 6 } }]],
    ]);
  });

  it('[API-4] a managed room with subscribers is not closed for being idle; it is once they leave', async () => {
    const manager = new RoomManager({ createStorage: () => new MemoryStorage(), idleTimeout: 30 });
    const room = await manager.getRoom('doc');
    const unsubscribe = room.subscribe(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(manager.getRoomIds()).toEqual(['doc']);
    unsubscribe();
    for (let i = 0; i < 50 && manager.getRoomIds().length > 0; i++)
      await new Promise((resolve) => setTimeout(resolve, 10));
    expect(manager.getRoomIds()).toEqual([]);
    await manager.closeAll();
  });
});

describe('tombstone retention', () => {
  it('[API-5] prunes tombstones older than the retention when saving; older diffs give the full state, across a restart', async () => {
    const storage = new MemoryStorage();
    fixture = await roomFixture({ storage, saveThrottleMs: 0, tombstoneRetention: 2 });
    const room = fixture.room;
    room.applyPatches([{ a: { x: 1 }, b: { x: 1 } }], 'http');
    room.applyPatches([{ b: { _exists: false } }], 'http');
    room.applyPatches([{ a: { x: 2 } }], 'http');
    room.applyPatches([{ a: { x: 3 } }], 'http');
    room.applyPatches([{ a: { x: 4 } }], 'http');
    await room.flush();
    expect(room.changesSince(1).complete).toBe(false);
    expect(room.changesSince(3).complete).toBe(true);
    expect(room.diffSince(1)).toEqual([{ a: { _exists: true, x: 4 } }]);
    const snapshot = await storage.load();
    expect(snapshot?.horizon).toBe(3);
    const { Room } = await import('../src/index.js');
    const restarted = new Room({ initialSnapshot: snapshot! });
    expect(restarted.changesSince(1).complete).toBe(false);
    await restarted.close();
  });
});
