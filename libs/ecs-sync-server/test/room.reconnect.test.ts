import { afterEach, describe, expect, it } from 'vitest';
import { Room, type EcsSyncServerMessage, type Patch, type PatchBroadcast } from '../src/index.js';
import { EcsSyncTestClient } from '@p3/test-support';
import { MemoryConnection } from './helpers/MemoryConnection.js';
import { liveState, roomFixture, type RoomFixture } from './helpers/roomFixture.js';

const isReply = (m: EcsSyncServerMessage): m is PatchBroadcast => m.type === 'patch' && m.clientId === '';

let fixture: RoomFixture | undefined;
afterEach(async () => {
  await fixture?.dispose();
  fixture = undefined;
});

/** Alice writes the history used by the diff tests; returns after each step is acked. */
async function writeHistory(alice: EcsSyncTestClient): Promise<void> {
  const steps: Patch[] = [
    { e1: { x: 1, y: 1 }, e4: { a: 1 } }, // 1
    { e2: { v: 1 } }, // 2
    { e1: { x: 2 } }, // 3
    { e2: { _exists: false } }, // 4
    { e4: { _exists: false } }, // 5
    { e4: { b: 2 } }, // 6: re-created without `a`
    { e3: { z: 1 } }, // 7
  ];
  for (const step of steps) alice.edit(step);
  await alice.sync();
}

describe('reconnect', () => {
  it('[SYNC-6] answers the diff since lastTimestamp: changed fields, deletions, delete-then-fields for re-created keys', async () => {
    fixture = await roomFixture();
    const alice = await fixture.join('alice');
    const bob = await fixture.join('bob');
    alice.edit({ e1: { x: 1, y: 1 }, e4: { a: 1 } });
    alice.edit({ e2: { v: 1 } });
    await alice.sync();
    await bob.until(() => (bob.lastTimestamp === 2 ? true : undefined));
    await bob.disconnect();

    const steps: Patch[] = [
      { e1: { x: 2 } },
      { e2: { _exists: false } },
      { e4: { _exists: false } },
      { e4: { b: 2 } },
      { e3: { z: 1 } },
    ];
    for (const step of steps) alice.edit(step);
    await alice.sync();

    const from = bob.received.length;
    await bob.connect();
    const reply = await bob.waitFor(isReply, from);
    expect(reply).toEqual({
      type: 'patch',
      documentPatches: [
        { e2: { _exists: false }, e4: { _exists: false } },
        { e1: { x: 2 }, e4: { _exists: true, b: 2 }, e3: { _exists: true, z: 1 } },
      ],
      clientId: '',
      timestamp: 7,
    });
    expect(bob.document()).toEqual(liveState(fixture.room));
    expect(bob.document().e4).toEqual({ _exists: true, b: 2 });
  });

  it('[SYNC-6] a client that is up to date still gets a reply carrying the timestamp', async () => {
    fixture = await roomFixture();
    const alice = await fixture.join('alice');
    await writeHistory(alice);
    alice.sendJson({ type: 'reconnect', lastTimestamp: 7, protocolVersion: 1 });
    const reply = await alice.waitFor(isReply, alice.received.length);
    expect(reply).toEqual({ type: 'patch', clientId: '', timestamp: 7 });
  });

  it('[SYNC-6] a first connect (lastTimestamp 0) gets every key, tombstones as deletions', async () => {
    fixture = await roomFixture();
    const alice = await fixture.join('alice');
    await writeHistory(alice);
    const bob = fixture.client('bob');
    await bob.connect();
    const reply = await bob.waitFor(isReply);
    expect(reply.documentPatches).toEqual([
      { e2: { _exists: false }, e4: { _exists: false } },
      { e1: { _exists: true, x: 2, y: 1 }, e4: { _exists: true, b: 2 }, e3: { _exists: true, z: 1 } },
    ]);
    expect(bob.document()).toEqual(liveState(fixture.room));
  });

  it('[SYNC-7] a lastTimestamp beyond the room timestamp gets the full state', async () => {
    fixture = await roomFixture();
    const alice = await fixture.join('alice');
    await writeHistory(alice);
    const stranger = fixture.client('stranger');
    stranger.lastTimestamp = 1000;
    await stranger.connect();
    const reply = await stranger.waitFor(isReply);
    expect(reply).toEqual({
      type: 'patch',
      documentPatches: [
        { e2: { _exists: false } },
        { e1: { _exists: true, x: 2, y: 1 }, e4: { _exists: true, b: 2 }, e3: { _exists: true, z: 1 } },
      ],
      clientId: '',
      timestamp: 7,
    });
    expect(stranger.lastTimestamp).toBe(7);
  });

  it('[SYNC-6] offline patches are applied, broadcast to the others, advance the timestamp once, and are not acked', async () => {
    fixture = await roomFixture();
    const alice = await fixture.join('alice');
    const bob = await fixture.join('bob');
    alice.edit({ e1: { x: 1 } });
    await alice.sync();
    await bob.disconnect();
    bob.edit({ e1: { y: 2 } });
    bob.edit({ e2: { v: 3 } }, { 'bob/Cursor': { x: 4 } });
    const from = bob.received.length;
    await bob.connect();
    const broadcast = await alice.waitFor(
      (m): m is PatchBroadcast => m.type === 'patch' && m.clientId === 'bob',
    );
    expect(broadcast).toEqual({
      type: 'patch',
      documentPatches: [{ e1: { y: 2 }, e2: { v: 3 } }],
      ephemeralPatches: [{ 'bob/Cursor': { x: 4 } }],
      clientId: 'bob',
      timestamp: 2,
    });
    const reply = await bob.waitFor(isReply, from);
    expect(reply.timestamp).toBe(2);
    expect(bob.received.filter((m) => m.type === 'ack')).toHaveLength(1); // the join barrier only
    await bob.sync();
    expect(fixture.room.getSnapshot().timestamp).toBe(2);
    expect(bob.document()).toEqual(liveState(fixture.room));
    expect(alice.document()).toEqual(liveState(fixture.room));
  });

  it("[SYNC-6] the reply carries the other clients' ephemeral state", async () => {
    fixture = await roomFixture();
    const alice = await fixture.join('alice');
    alice.edit(undefined, { 'alice/Cursor': { x: 1 } });
    await alice.sync();
    const bob = fixture.client('bob');
    await bob.connect();
    await bob.sync();
    const reply = bob.received.filter(isReply).at(-1);
    expect(reply).toEqual({
      type: 'patch',
      ephemeralPatches: [{ 'alice/Cursor': { x: 1 } }],
      clientId: '',
      timestamp: 0,
    });
  });

  it('[SYNC-8] a reconnect with another protocol version gets version-mismatch and changes nothing', async () => {
    fixture = await roomFixture();
    const alice = await fixture.join('alice');
    const bob = await fixture.join('bob');
    const from = alice.received.length;
    alice.sendJson({
      type: 'reconnect',
      lastTimestamp: 0,
      protocolVersion: 2,
      documentPatches: [{ e1: { x: 1 } }],
      ephemeralPatches: [{ c: { x: 1 } }],
    });
    await alice.sync();
    expect(alice.received.slice(from, -1)).toEqual([{ type: 'version-mismatch', serverProtocolVersion: 1 }]);
    await bob.sync();
    expect(bob.received.filter((m) => m.type === 'patch' && m.clientId === 'alice')).toEqual([]);
    expect(fixture.room.getSnapshot()).toEqual({ timestamp: 0, state: {}, timestamps: {} });
  });

  it('[SYNC-8] a reconnect without protocolVersion (the seed-era client) is served', async () => {
    fixture = await roomFixture();
    const alice = await fixture.join('alice');
    alice.sendJson({ type: 'reconnect', lastTimestamp: 0, documentPatches: [{ e1: { x: 1 } }] });
    const reply = await alice.waitFor(isReply, alice.received.length);
    expect(reply).toEqual({
      type: 'patch',
      documentPatches: [{ e1: { _exists: true, x: 1 } }],
      clientId: '',
      timestamp: 1,
    });
  });

  it('[SYNC-6] two clients editing offline converge with each other and with the room', async () => {
    fixture = await roomFixture();
    const alice = await fixture.join('alice');
    const bob = await fixture.join('bob');
    const carol = await fixture.join('carol');
    alice.edit({ shape1: { x: 0, y: 0, color: 'red' }, shape2: { x: 5 }, shape3: { r: 1 } });
    await alice.sync();
    await bob.until(() => (bob.lastTimestamp === 1 ? true : undefined));
    await Promise.all([alice.disconnect(), bob.disconnect()]);

    alice.edit({ shape1: { x: 10 } });
    alice.edit({ shape2: { _exists: false } });
    alice.edit({ shape4: { w: 1 } });
    bob.edit({ shape1: { x: 20, y: 20 } });
    bob.edit({ shape2: { x: 6 } });
    bob.edit({ shape3: { _exists: false } });
    carol.edit({ shape1: { color: 'blue' } });
    await carol.sync();

    await alice.connect();
    await alice.sync();
    await bob.connect();
    await bob.sync();
    await alice.sync();
    await carol.sync();

    const room = liveState(fixture.room);
    expect(alice.document()).toEqual(room);
    expect(bob.document()).toEqual(room);
    expect(carol.document()).toEqual(room);
    // Bob reconnected last: his offline values win where they overlap (arrival order).
    expect(room.shape1).toEqual({ _exists: true, x: 20, y: 20, color: 'blue' });
    expect(room.shape2).toEqual({ _exists: true, x: 6 });
    expect(room.shape3).toBeUndefined();
    expect(room.shape4).toEqual({ _exists: true, w: 1 });
  });
});

describe('[SYNC-9] sessions that have not reconnected yet', () => {
  it('receive patches stamped 0, so a drop before the reply cannot skip changes', async () => {
    const room = new Room({ onError: () => undefined });
    const alice = new EcsSyncTestClient('alice');
    const bob = new EcsSyncTestClient('bob');
    const a = await MemoryConnection.open(room, alice, 'a');
    a.deliverUp();
    a.deliverAllDown();
    alice.edit({ e1: { x: 1 } });
    a.deliverUp();
    a.deliverAllDown();

    bob.lastTimestamp = 0;
    const b = await MemoryConnection.open(room, bob, 'b');
    // Bob's reconnect is still on its way while alice writes.
    alice.edit({ e1: { x: 2 } });
    a.deliverUp();
    b.deliverAllDown();
    expect(bob.received.filter((m) => m.type === 'patch')).toEqual([
      { type: 'patch', documentPatches: [{ e1: { x: 2 } }], clientId: 'alice', timestamp: 0 },
    ]);
    expect(bob.lastTimestamp).toBe(0);
    // The reply then brings everything, stamped with the room timestamp.
    b.deliverUp();
    b.deliverAllDown();
    expect(bob.received.at(-1)).toEqual({
      type: 'patch',
      documentPatches: [{ e1: { _exists: true, x: 2 } }],
      clientId: '',
      timestamp: 2,
    });
    expect(bob.document()).toEqual({ e1: { _exists: true, x: 2 } });
    // Synced sessions get the room timestamp.
    alice.edit({ e1: { x: 3 } });
    a.deliverUp();
    b.deliverAllDown();
    expect(bob.received.at(-1)).toEqual({
      type: 'patch',
      documentPatches: [{ e1: { x: 3 } }],
      clientId: 'alice',
      timestamp: 3,
    });
  });
});
