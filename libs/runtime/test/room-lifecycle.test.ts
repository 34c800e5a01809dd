import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { CloseCode, ErrorCode, type JsonValue, type Op } from '@p3/protocol';
import {
  ManualClock,
  ManualScheduler,
  MemoryRoomLog,
  MemorySnapshotStore,
  RoomHost,
  type LogEntry,
  type RoomHostOptions,
  type RoomKey,
  type RoomLog,
  type SaveOutcome,
  type SnapshotStore,
  type StoredSnapshot,
  type TickedRoomLogRecord,
} from '@p3/runtime';
import { RecordingOutput } from './recording-output.js';
import { roomTestWorld } from './room-test-world.js';

// Room lifecycle: what a room writes (nothing when nothing changed), its limits, idle closing on every path,
// sessions replaced by a reconnect, storage health, bounded bookkeeping, periodic snapshots.

const world = roomTestWorld;

const key: RoomKey = { tenant: 'default', room: 'lobby' };
const roomKey = (room: string): RoomKey => ({ tenant: 'default', room });
const uuid = (n: number) => `0190d7a0-0000-7000-8000-${n.toString(16).padStart(12, '0')}`;
const NOTE = uuid(0xbb);

/** A memory store that counts saves (and their versions) and fails them on demand. */
class CountingStore implements SnapshotStore {
  readonly inner = new MemorySnapshotStore();
  readonly saved: number[] = [];
  attempts = 0;
  failing = false;
  load(k: RoomKey): Promise<StoredSnapshot | null> {
    return this.inner.load(k);
  }
  async save(k: RoomKey, snapshot: StoredSnapshot): Promise<SaveOutcome> {
    this.attempts++;
    if (this.failing) throw new Error('disk full');
    this.saved.push(snapshot.version);
    return this.inner.save(k, snapshot);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/** A memory log that counts appends and fails them on demand. */
class CountingLog implements RoomLog {
  readonly inner = new MemoryRoomLog();
  appends = 0;
  failing = false;
  async append(k: RoomKey, version: number, data: JsonValue): Promise<void> {
    this.appends++;
    if (this.failing) throw new Error('log device gone');
    return this.inner.append(k, version, data);
  }
  read(k: RoomKey, after: number): Promise<LogEntry[]> {
    return this.inner.read(k, after);
  }
  truncate(k: RoomKey, through: number): Promise<void> {
    return this.inner.truncate(k, through);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

function setup(options: Partial<RoomHostOptions> = {}) {
  const clock = new ManualClock();
  const scheduler = new ManualScheduler(clock);
  const output = new RecordingOutput();
  const lines: Array<{ level: number; msg: string }> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
  const host = new RoomHost({
    world,
    tickRate: 10,
    bufferFrame: 5,
    clock,
    scheduler,
    store: new MemorySnapshotStore(),
    output,
    logger,
    idleTimeoutMs: 1000,
    resumeGraceMs: 500,
    snapshotIntervalMs: 200,
    wallClock: () => 1_700_000_000_000,
    ...options,
  });
  /** Advances the room clock in ticks, letting storage promises resolve in between. */
  const advance = async (ms: number) => {
    for (let t = 0; t < ms; t += 100) {
      scheduler.advance(Math.min(100, ms - t));
      await settle();
    }
  };
  const join = async (clientId: string, extra: { room?: string; stamp?: number } = {}) => {
    const result = await host.join({
      key: extra.room === undefined ? key : roomKey(extra.room),
      clientId,
      sessionStamp: extra.stamp ?? 1,
    });
    return output.track(result);
  };
  const joined = async (clientId: string, extra: { room?: string; stamp?: number } = {}) => {
    const result = await join(clientId, extra);
    if (!result.ok) throw result.error;
    return result;
  };
  const send = (connectionId: string, seq: number, op: Op, stamp = 1, room = key) =>
    host.receive(room, connectionId, { type: 'ops', stamp, seq, ops: [op] });
  return { clock, scheduler, output, host, lines, advance, join, joined, send };
}

describe('RoomHost lifecycle', () => {
  it('[ROOM-1] a room nobody changed writes no snapshot and no log record: joining alone is not durable', async () => {
    const store = new CountingStore();
    const log = new CountingLog();
    const t = setup({ store, log });
    const ann = await t.joined('ann');
    const bob = await t.joined('bob');
    await t.advance(700);
    t.output.close(key, ann.connectionId, CloseCode.Normal, 'socket closed');
    t.host.leave(key, bob.connectionId);
    await t.advance(2000);
    expect(t.host.roomCount).toBe(0);
    expect([store.attempts, log.appends]).toEqual([0, 0]);
    expect(await store.load(key)).toBeNull();

    // Without a log (durability `snapshot`) neither: a join changes no durable state.
    const plain = new CountingStore();
    const t2 = setup({ store: plain });
    await t2.joined('ann');
    await t2.advance(700);
    await t2.host.close();
    expect(plain.attempts).toBe(0);
  });

  it('[ROOM-1] a member is written with the first change it makes; one that changed nothing is not recovered', async () => {
    const store = new CountingStore();
    const log = new CountingLog();
    const t = setup({ store, log, snapshotIntervalMs: 60_000 });
    const ann = await t.joined('ann');
    await t.joined('bob');
    await t.advance(500);
    expect(log.appends).toBe(0);
    t.send(ann.connectionId, 1, { op: 'create', entityId: NOTE, typeName: 'note', data: { text: 'hi' } });
    await t.advance(300);
    const records = (await log.read(key, 0)).map((e) => e.data as unknown as TickedRoomLogRecord);
    expect(records.flatMap((r) => r.members ?? []).map((m) => m.clientId)).toEqual(['ann', 'bob']);
    // Crash: the second host recovers both members (written with ann's change) and the note.
    const after = setup({ store, log, snapshotIntervalMs: 60_000 });
    const carl = await after.joined('carl');
    expect(carl.welcome.entities.map((e) => e.id)).toEqual([NOTE]);
    expect(
      after.host
        .room(key)
        ?.getMembers()
        .map((m) => m.clientId),
    ).toEqual(['ann', 'bob', 'carl']);
    // A member that joined after the last change is not: after a crash it gets a new connection and the full state.
    const dave = await after.joined('dave');
    await after.advance(500);
    const third = setup({ store, log });
    const again = await third.joined('dave');
    expect(again.connectionId).not.toBe(dave.connectionId);
    expect(again.welcome.delta).toBe(false);
  });

  it('[ROOM-2] refuses a room beyond maxRooms (QUOTA_EXCEEDED, 4105) and a member beyond maxMembersPerRoom (ROOM_FULL, 4104)', async () => {
    const t = setup({ maxRooms: 2, maxMembersPerRoom: 2 });
    const ann = await t.joined('ann', { room: 'a' });
    await t.joined('bob', { room: 'a' });
    const carl = await t.join('carl', { room: 'a' });
    expect(carl.ok ? undefined : [carl.error.code, carl.closeCode, carl.error.message]).toEqual([
      ErrorCode.RoomFull,
      CloseCode.RoomFull,
      'room a is full (2 members)',
    ]);
    // A member resuming its session keeps its seat.
    const back = await t.joined('ann', { room: 'a', stamp: 2 });
    expect(back.connectionId).toBe(ann.connectionId);
    const b = await t.joined('dan', { room: 'b' });
    const c = await t.join('eve', { room: 'c' });
    expect(c.ok ? undefined : [c.error.code, c.closeCode]).toEqual([
      ErrorCode.QuotaExceeded,
      CloseCode.QuotaExceeded,
    ]);
    expect(c.ok ? '' : c.error.message).toMatch(/at most 2 rooms/);
    // Once a room closed (idle), another can open.
    t.host.leave(roomKey('b'), b.connectionId);
    await t.advance(2000);
    expect((await t.join('eve', { room: 'c' })).ok).toBe(true);
  });

  it('[ROOM-3] closes a room nobody stays in, whatever opened it: open(), a refused join, a join given back at once', async () => {
    const t = setup({ maxMembersPerRoom: 1 });
    await t.host.open(roomKey('opened'));
    await t.host.open(roomKey('pinned'), { pinned: true });
    const given = await t.joined('ann', { room: 'given-back' });
    given.session.leave();
    expect(t.host.roomCount).toBe(3);
    await t.advance(2000);
    expect(t.host.rooms().map((r) => r.key.room)).toEqual(['pinned']);

    const zero = setup({ maxMembersPerRoom: 0 });
    const refused = await zero.join('ann', { room: 'full' });
    expect(refused.ok).toBe(false);
    expect(zero.host.roomCount).toBe(1);
    await zero.advance(1100);
    expect(zero.host.roomCount).toBe(0);
  });

  it('[ROOM-4] a client reconnecting while its old socket is open keeps its session past the grace period', async () => {
    const t = setup();
    const first = await t.joined('ann');
    const avatar = uuid(0xaa);
    t.send(first.connectionId, 1, { op: 'create', entityId: avatar, typeName: 'avatar', data: { x: 1 } });
    await t.advance(200);
    // The old socket is still open: the room closes it (4004), and its close handler gives its session back at once.
    const second = await t.joined('ann', { stamp: 2 });
    expect(second.connectionId).toBe(first.connectionId);
    expect(t.output.closed).toEqual([
      { connectionId: first.connectionId, code: CloseCode.Replaced, reason: expect.any(String) },
    ]);
    await t.advance(1500);
    const room = t.host.room(key)!;
    expect(room.getMember(second.connectionId)?.attached).toBe(true);
    expect(room.world.entity(avatar)?.get('x')).toBe(1);
    t.send(second.connectionId, 1, { op: 'update', entityId: avatar, data: { x: 9 } }, 2);
    await t.advance(200);
    expect(room.world.entity(avatar)?.get('x')).toBe(9);
    // A close of the replaced socket that comes late (another process) does not detach the new one either.
    first.session.leave();
    await t.advance(1500);
    expect(room.getMember(second.connectionId)?.attached).toBe(true);
    expect(room.world.entity(avatar)).toBeDefined();
  });

  it('[ROOM-5] failing snapshot saves: not healthy, one log line, retries with backoff, healthy again once one succeeds', async () => {
    const store = new CountingStore();
    store.failing = true;
    const t = setup({ store, snapshotIntervalMs: 5000, saveRetryMs: 50 });
    const ann = await t.joined('ann');
    t.send(ann.connectionId, 1, { op: 'create', entityId: NOTE, typeName: 'note', data: { text: 'x' } });
    // The first save comes within one interval (at a random point of it, so rooms spread their saves).
    while (store.attempts === 0) await t.advance(10);
    expect(store.attempts).toBe(1);
    expect(t.host.healthy).toBe(false);
    expect(t.host.storageError).toMatchObject({ failing: 'snapshot', error: { message: 'disk full' } });
    // Retries after 50, 100, 200, 400, 800 ms (not every 5 s, not every tick).
    await t.advance(1600);
    expect(store.attempts).toBe(6);
    const errors = () => t.lines.filter((l) => l.level >= 50);
    expect(errors().map((l) => l.msg)).toEqual([
      'snapshot saves are failing: retrying with backoff; not ready until one succeeds',
    ]);
    store.failing = false;
    await t.advance(1700);
    expect(t.host.healthy).toBe(true);
    expect(store.saved).toHaveLength(1);
    expect(errors()).toHaveLength(1);
    expect(t.lines.filter((l) => l.msg === 'snapshot saves succeed again')).toHaveLength(1);
  });

  it('[ROOM-5] a failing room log: not healthy, one log line for many rooms, healthy again once an append is durable', async () => {
    const log = new CountingLog();
    log.failing = true;
    const t = setup({ log });
    for (const room of ['r1', 'r2', 'r3']) {
      const joined = await t.joined('ann', { room });
      t.send(
        joined.connectionId,
        1,
        { op: 'create', entityId: NOTE, typeName: 'note', data: {} },
        1,
        roomKey(room),
      );
    }
    await t.advance(300);
    expect(t.host.healthy).toBe(false);
    expect(t.host.storageError?.failing).toBe('log');
    expect(t.lines.filter((l) => l.level >= 50)).toHaveLength(1);
    log.failing = false;
    const again = await t.joined('ann', { room: 'r1', stamp: 2 });
    t.send(
      again.connectionId,
      1,
      { op: 'create', entityId: NOTE, typeName: 'note', data: {} },
      2,
      roomKey('r1'),
    );
    await t.advance(300);
    expect(t.host.healthy).toBe(true);
  });

  it('[ROOM-7] bookkeeping returns to its baseline after many joins, leaves and rooms', async () => {
    const t = setup({ events: { entityCreated: () => undefined } });
    const lobby = await t.host.open(key, { pinned: true });
    for (let i = 0; i < 150; i++) {
      const member = await t.joined(`c${i}`);
      t.send(member.connectionId, 1, { op: 'create', entityId: uuid(i), typeName: 'avatar', data: {} });
      await t.advance(100);
      expect(lobby.world.entities()).toHaveLength(1); // reads make handles
      t.output.close(key, member.connectionId, CloseCode.Normal, 'bye');
      await t.advance(700);
    }
    expect(lobby.memberCount).toBe(0);
    expect(lobby.world.entities()).toHaveLength(0);
    expect(lobby.world.handleCount).toBe(0);
    expect(lobby.announcedCount).toBe(0);
    for (let i = 0; i < 60; i++) {
      const member = await t.joined('ann', { room: `room-${i}` });
      t.host.leave(roomKey(`room-${i}`), member.connectionId);
    }
    await t.advance(2000);
    expect(t.host.sizes).toEqual({ rooms: 1, opening: 0, closing: 0, pinned: 1 });
    // A pinned room that cannot open leaves no pin behind.
    const full = setup({ maxRooms: 0 });
    await expect(full.host.open(roomKey('never'), { pinned: true })).rejects.toThrow(/at most 0 rooms/);
    expect(full.host.sizes.pinned).toBe(0);
  });

  it('[ROOM-8] snapshots a changing room at every interval, not only the first', async () => {
    const store = new CountingStore();
    const t = setup({ store, snapshotIntervalMs: 200 });
    const ann = await t.joined('ann');
    const avatar = uuid(0xaa);
    t.send(ann.connectionId, 1, { op: 'create', entityId: avatar, typeName: 'avatar', data: {} });
    t.send(ann.connectionId, 2, { op: 'input', entityId: avatar, input: { right: true } });
    await t.advance(1000);
    expect(t.host.roomCount).toBe(1);
    expect(store.saved.length).toBeGreaterThanOrEqual(3);
    expect(store.saved).toEqual([...new Set(store.saved)].sort((a, b) => a - b));
  });
});
