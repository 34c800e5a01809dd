import { afterEach, describe, expect, it } from 'vitest';
import type {
  AckResponse,
  ClientCountBroadcast,
  EcsSyncServerMessage,
  PatchBroadcast,
} from '../src/index.js';
import { liveState, roomFixture, type RoomFixture } from './helpers/roomFixture.js';

const isAck =
  (id: string) =>
  (m: EcsSyncServerMessage): m is AckResponse =>
    m.type === 'ack' && m.messageId === id;
const isPatchFrom =
  (clientId: string) =>
  (m: EcsSyncServerMessage): m is PatchBroadcast =>
    m.type === 'patch' && m.clientId === clientId;
const isCount =
  (count: number) =>
  (m: EcsSyncServerMessage): m is ClientCountBroadcast =>
    m.type === 'clientCount' && m.count === count;

let fixture: RoomFixture | undefined;
afterEach(async () => {
  await fixture?.dispose();
  fixture = undefined;
});

describe('connections', () => {
  it('[SYNC-1] clientCount goes to everyone on every connect and every disconnect', async () => {
    fixture = await roomFixture();
    const alice = await fixture.join('alice');
    await alice.waitFor(isCount(1));
    const bob = await fixture.join('bob');
    await alice.waitFor(isCount(2));
    await bob.waitFor(isCount(2));
    const carol = await fixture.join('carol');
    await Promise.all([alice, bob, carol].map((c) => c.waitFor(isCount(3))));
    expect(fixture.room.getSessionCount()).toBe(3);
    expect(
      fixture.room
        .getSessions()
        .map((s) => s.clientId)
        .sort(),
    ).toEqual(['alice', 'bob', 'carol']);

    const fromAlice = alice.received.length;
    const fromBob = bob.received.length;
    await carol.disconnect();
    await alice.waitFor(isCount(2), fromAlice);
    await bob.waitFor(isCount(2), fromBob);
    expect(fixture.room.getSessionCount()).toBe(2);
  });

  it('[SYNC-1] two sessions of one client count twice', async () => {
    fixture = await roomFixture();
    const tab1 = await fixture.join('alice');
    await fixture.join('alice');
    await tab1.waitFor(isCount(2));
    expect(fixture.room.getSessions().map((s) => s.clientId)).toEqual(['alice', 'alice']);
  });
});

describe('patches', () => {
  it('[SYNC-2] the sender gets an ack, the others get the patch with the sender id and timestamp', async () => {
    fixture = await roomFixture();
    const alice = await fixture.join('alice');
    const bob = await fixture.join('bob');
    const carol = await fixture.join('carol');
    const messageId = alice.edit({ 'e1/Pos': { x: 10, y: 20 } })!;

    const ack = await alice.waitFor(isAck(messageId));
    expect(ack).toEqual({ type: 'ack', messageId, timestamp: 1 });
    for (const other of [bob, carol]) {
      const patch = await other.waitFor(isPatchFrom('alice'));
      expect(patch).toEqual({
        type: 'patch',
        documentPatches: [{ 'e1/Pos': { x: 10, y: 20 } }],
        clientId: 'alice',
        timestamp: 1,
      });
    }
    await alice.sync();
    expect(alice.received.filter(isPatchFrom('alice'))).toEqual([]);
  });

  it('[SYNC-3] one message with several document patches advances the timestamp once', async () => {
    fixture = await roomFixture();
    const alice = await fixture.join('alice');
    const bob = await fixture.join('bob');
    alice.sendJson({
      type: 'patch',
      messageId: 'm1',
      documentPatches: [{ 'e1/Pos': { x: 1 } }, { 'e2/Pos': { x: 2 } }, { 'e1/Pos': { y: 3 } }],
    });
    expect((await alice.waitFor(isAck('m1'))).timestamp).toBe(1);
    alice.sendJson({ type: 'patch', messageId: 'm2', documentPatches: [{ 'e3/Pos': { x: 1 } }] });
    expect((await alice.waitFor(isAck('m2'))).timestamp).toBe(2);
    const snapshot = fixture.room.getSnapshot();
    expect(snapshot.timestamp).toBe(2);
    expect(snapshot.timestamps['e1/Pos']).toEqual({ _exists: 1, x: 1, y: 1 });
    expect(snapshot.timestamps['e2/Pos']).toEqual({ _exists: 1, x: 1 });
    const broadcast = await bob.waitFor(isPatchFrom('alice'));
    expect(broadcast.documentPatches).toHaveLength(3);
  });

  it('[SYNC-3] ephemeral-only messages do not advance the timestamp', async () => {
    fixture = await roomFixture();
    const alice = await fixture.join('alice');
    const bob = await fixture.join('bob');
    alice.edit({ 'e1/Pos': { x: 1 } });
    const id = alice.edit(undefined, { 'alice/Cursor': { x: 5 } })!;
    expect((await alice.waitFor(isAck(id))).timestamp).toBe(1);
    const eph = await bob.waitFor(
      (m): m is PatchBroadcast => m.type === 'patch' && m.ephemeralPatches !== undefined,
    );
    expect(eph).toEqual({
      type: 'patch',
      ephemeralPatches: [{ 'alice/Cursor': { x: 5 } }],
      clientId: 'alice',
      timestamp: 1,
    });
    expect(fixture.room.getSnapshot().timestamp).toBe(1);
  });

  it('[SYNC-2][SYNC-3] empty patches and empty arrays are acked at the current timestamp and change nothing', async () => {
    const changes: number[] = [];
    fixture = await roomFixture({ onDataChange: (room) => changes.push(room.getSnapshot().timestamp) });
    const alice = await fixture.join('alice');
    const bob = await fixture.join('bob');
    alice.edit({ 'e1/Pos': { x: 1 } });
    const empties = [
      { type: 'patch', messageId: 'a' },
      { type: 'patch', messageId: 'b', documentPatches: [], ephemeralPatches: [] },
      { type: 'patch', messageId: 'c', documentPatches: [{}, {}], ephemeralPatches: [{}] },
      { type: 'patch', messageId: 'd', documentPatches: null },
    ];
    for (const message of empties) alice.sendJson(message);
    for (const { messageId } of empties) expect((await alice.waitFor(isAck(messageId))).timestamp).toBe(1);
    await bob.sync();
    expect(bob.received.filter(isPatchFrom('alice'))).toEqual([
      { type: 'patch', documentPatches: [{ 'e1/Pos': { x: 1 } }], clientId: 'alice', timestamp: 1 },
    ]);
    expect(fixture.room.getSnapshot().timestamp).toBe(1);
    expect(changes).toEqual([1]);
  });

  it('[SYNC-2] only the non-empty patches of a message are broadcast', async () => {
    fixture = await roomFixture();
    const alice = await fixture.join('alice');
    const bob = await fixture.join('bob');
    alice.sendJson({
      type: 'patch',
      messageId: 'm',
      documentPatches: [{}, { k: { a: 1 } }, {}],
      ephemeralPatches: [{}],
    });
    const patch = await bob.waitFor(isPatchFrom('alice'));
    expect(patch).toEqual({
      type: 'patch',
      documentPatches: [{ k: { a: 1 } }],
      clientId: 'alice',
      timestamp: 1,
    });
  });

  it('[SYNC-4] per-field last write wins in arrival order; fields merge', async () => {
    fixture = await roomFixture();
    const alice = await fixture.join('alice');
    const bob = await fixture.join('bob');
    alice.edit({ 'e1/Pos': { x: 1, y: 1 } });
    await alice.sync();
    bob.edit({ 'e1/Pos': { x: 2 } });
    await bob.sync();
    alice.edit({ 'e1/Pos': { z: 3 } });
    await alice.sync();
    await bob.sync();
    expect(liveState(fixture.room)).toEqual({ 'e1/Pos': { _exists: true, x: 2, y: 1, z: 3 } });
    expect(fixture.room.getSnapshot().timestamps['e1/Pos']).toEqual({ _exists: 1, x: 2, y: 1, z: 3 });
    expect(alice.document()).toEqual(liveState(fixture.room));
    expect(bob.document()).toEqual(liveState(fixture.room));
  });

  it('[SYNC-4] {_exists:false} deletes a key, keeps a tombstone, and a later write re-creates it without old fields', async () => {
    fixture = await roomFixture();
    const alice = await fixture.join('alice');
    const bob = await fixture.join('bob');
    alice.edit({ 'e1/Pos': { x: 1, y: 1 }, 'e2/Pos': { x: 5 } });
    alice.edit({ 'e1/Pos': { _exists: false } });
    await alice.sync();
    expect(fixture.room.getSnapshot().state['e1/Pos']).toEqual({ _exists: false });
    expect(fixture.room.getSnapshot().timestamps['e1/Pos']).toEqual({ _exists: 2 });
    alice.edit({ 'e1/Pos': { y: 7 } });
    await alice.sync();
    await bob.sync();
    expect(liveState(fixture.room)).toEqual({
      'e1/Pos': { _exists: true, y: 7 },
      'e2/Pos': { _exists: true, x: 5 },
    });
    expect(bob.document()).toEqual(liveState(fixture.room));
  });

  it('[SYNC-4] a write to a new key creates it with _exists: true (implicit create)', async () => {
    fixture = await roomFixture();
    const alice = await fixture.join('alice');
    alice.edit({ 'SINGLETON/Camera': { zoom: 2 }, 'e9/Tag': {} });
    await alice.sync();
    expect(fixture.room.getSnapshot().state).toEqual({
      'SINGLETON/Camera': { _exists: true, zoom: 2 },
      'e9/Tag': { _exists: true },
    });
  });

  it('[SYNC-12] onDataChange runs once per document-changing message only', async () => {
    const calls: number[] = [];
    fixture = await roomFixture({ onDataChange: (room) => calls.push(room.getSnapshot().timestamp) });
    const alice = await fixture.join('alice');
    alice.edit(undefined, { 'alice/Cursor': { x: 1 } });
    alice.edit({ a: { v: 1 }, b: { v: 2 } });
    alice.edit({ a: { v: 3 } }, { 'alice/Cursor': { x: 2 } });
    alice.sendJson({ type: 'patch', messageId: 'empty', documentPatches: [{}] });
    alice.sendJson({ type: 'reconnect', lastTimestamp: 0 });
    alice.sendJson({ type: 'reconnect', lastTimestamp: 0, documentPatches: [{ c: { v: 1 } }] });
    await alice.sync();
    expect(calls).toEqual([1, 2, 3]);
  });
});

describe('ephemeral state', () => {
  it('[SYNC-5] is namespaced by client: each client keeps its own, newcomers get the merged state of the others', async () => {
    fixture = await roomFixture();
    const alice = await fixture.join('alice');
    const bob = await fixture.join('bob');
    alice.edit(undefined, { 'alice/Cursor': { x: 1, y: 1 } });
    alice.edit(undefined, { 'alice/Cursor': { y: 2 } });
    bob.edit(undefined, { 'bob/Cursor': { x: 9 }, 'bob/Selection': { ids: ['e1'] } });
    bob.edit(undefined, { 'bob/Selection': { _exists: false } });
    await alice.sync();
    await bob.sync();

    const carol = fixture.client('carol');
    await carol.connect();
    const first = await carol.waitFor((m): m is PatchBroadcast => m.type === 'patch');
    // Sent at connect, before carol's reconnect was answered: stamped 0 ([SYNC-9]).
    expect(first).toEqual({
      type: 'patch',
      ephemeralPatches: [{ 'alice/Cursor': { x: 1, y: 2 }, 'bob/Cursor': { x: 9 } }],
      clientId: '',
      timestamp: 0,
    });
    await carol.sync();
    expect(carol.othersEphemeral()).toEqual({
      'alice/Cursor': { _exists: true, x: 1, y: 2 },
      'bob/Cursor': { _exists: true, x: 9 },
    });
    // Never persisted nor in a snapshot.
    expect(fixture.room.getSnapshot().state).toEqual({});
    expect(fixture.room.getSnapshot().timestamp).toBe(0);
  });

  it('[SYNC-5] a newcomer does not get its own client id back; a lone client gets no ephemeral message', async () => {
    fixture = await roomFixture();
    const alice = await fixture.join('alice');
    alice.edit(undefined, { 'alice/Cursor': { x: 1 } });
    await alice.sync();
    const tab2 = fixture.client('alice');
    await tab2.connect();
    await tab2.sync();
    expect(tab2.received.filter((m) => m.type === 'patch' && m.ephemeralPatches !== undefined)).toEqual([]);
  });

  it('[SYNC-5] when the last session of a client leaves, its keys are deleted and the deletion broadcast', async () => {
    fixture = await roomFixture();
    const alice = await fixture.join('alice');
    const aliceTab2 = await fixture.join('alice');
    const bob = await fixture.join('bob');
    alice.edit(undefined, { 'alice/Cursor': { x: 1 }, 'alice/Sel': { ids: [] } });
    await alice.sync();
    await bob.until(() => bob.othersEphemeral()['alice/Sel']);

    let from = bob.received.length;
    await alice.disconnect();
    await bob.waitFor(isCount(2), from);
    // Another session of alice remains: nothing deleted.
    expect(bob.received.slice(from).filter((m) => m.type === 'patch')).toEqual([]);

    from = bob.received.length;
    await aliceTab2.disconnect();
    const deletion = await bob.waitFor(isPatchFrom('alice'), from);
    expect(deletion).toEqual({
      type: 'patch',
      ephemeralPatches: [{ 'alice/Cursor': { _exists: false }, 'alice/Sel': { _exists: false } }],
      clientId: 'alice',
      timestamp: 0,
    });
    expect(bob.othersEphemeral()).toEqual({});
    // A newcomer sees nothing of alice any more.
    const carol = await fixture.join('carol');
    expect(carol.othersEphemeral()).toEqual({});
  });

  it('[SYNC-5] a client without ephemeral state leaves without a deletion broadcast', async () => {
    fixture = await roomFixture();
    const alice = await fixture.join('alice');
    const bob = await fixture.join('bob');
    const from = alice.received.length;
    await bob.disconnect();
    await alice.waitFor(isCount(1), from);
    await alice.sync();
    expect(alice.received.slice(from).filter((m) => m.type === 'patch')).toEqual([]);
  });
});
