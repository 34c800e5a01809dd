import { describe, expect, it } from 'vitest';
import { CloseCode, ErrorCode, type JsonValue, type Op, type ServerMessage } from '@p3/protocol';
import {
  ManualClock,
  ManualScheduler,
  MemoryRoomLog,
  MemorySnapshotStore,
  RoomHost,
  type LogEntry,
  type RoomKey,
  type RoomLog,
} from '@p3/runtime';
import { RecordingOutput } from './recording-output.js';
import { roomTestWorld } from './room-test-world.js';

// Durability `log` (DESIGN 7: an ack means durable): what a room acknowledges is in its log first, a room recovers
// as its latest snapshot plus the records after it, and frame ids are never issued twice.

const world = roomTestWorld;

const key: RoomKey = { tenant: 'default', room: 'durable' };
const NOTE = '0190d7a0-0000-7000-8000-0000000000bb';
const AVATAR = '0190d7a0-0000-7000-8000-0000000000aa';

/** A memory log whose appends wait until released (or fail), to see what waits for durability. */
class HeldLog implements RoomLog {
  readonly inner = new MemoryRoomLog();
  hold = false;
  private held: Array<{ run: () => Promise<void>; resolve: () => void; reject: (e: unknown) => void }> = [];
  appends = 0;

  append(k: RoomKey, version: number, data: JsonValue): Promise<void> {
    this.appends++;
    if (!this.hold) return this.inner.append(k, version, data);
    return new Promise((resolve, reject) =>
      this.held.push({ run: () => this.inner.append(k, version, data), resolve, reject }),
    );
  }
  async release(): Promise<void> {
    const held = this.held.splice(0);
    for (const h of held) await h.run().then(h.resolve, h.reject);
    await settle();
  }
  async fail(error = new Error('disk full')): Promise<void> {
    for (const h of this.held.splice(0)) h.reject(error);
    await settle();
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
/** The output of each host: joins hand it their session, as a socket holds it (see RecordingOutput). */
const outputs = new WeakMap<RoomHost, RecordingOutput>();

function setup(shared: { store?: MemorySnapshotStore; log?: RoomLog; wall?: { now: number } } = {}) {
  const clock = new ManualClock();
  const scheduler = new ManualScheduler(clock);
  const output = new RecordingOutput();
  const store = shared.store ?? new MemorySnapshotStore();
  const log = shared.log ?? new MemoryRoomLog();
  const wall = shared.wall ?? { now: 1_700_000_000_000 };
  const host = new RoomHost({
    world,
    tickRate: 10,
    bufferFrame: 5,
    clock,
    scheduler,
    store,
    log,
    output,
    idleTimeoutMs: 60_000,
    resumeGraceMs: 500,
    snapshotIntervalMs: 60_000,
    wallClock: () => wall.now,
  });
  /** Advances the room clock, letting log appends resolve between ticks. */
  const advance = async (ms: number) => {
    for (let t = 0; t < ms; t += 100) {
      const step = Math.min(100, ms - t);
      scheduler.advance(step);
      wall.now += step;
      await settle();
    }
  };
  outputs.set(host, output);
  return { clock, scheduler, output, store, log, host, advance, wall };
}

async function join(host: RoomHost, clientId: string, stamp = 1, resumeFrame?: number) {
  const result = await host.join({
    key,
    clientId,
    sessionStamp: stamp,
    ...(resumeFrame === undefined ? {} : { resumeFrame }),
  });
  if (!result.ok) throw result.error;
  outputs.get(host)?.track(result);
  return result;
}

/** Sends one op of stamp 1 with sequence number `seq`. */
function sendOp(host: RoomHost, connectionId: string, seq: number, op: Op): void {
  host.receive(key, connectionId, { type: 'ops', stamp: 1, seq, ops: [op] });
}

const of = <T extends ServerMessage['type']>(messages: ServerMessage[], type: T) =>
  messages.filter((m): m is Extract<ServerMessage, { type: T }> => m.type === type);

describe('RoomHost with a room log', () => {
  it('[DUR-1] acks an op only once the record holding it is durable; frames are not held back', async () => {
    const log = new HeldLog();
    const { host, output, advance } = setup({ log });
    const { connectionId } = await join(host, 'ann');
    log.hold = true;
    sendOp(host, connectionId, 1, { op: 'create', entityId: NOTE, typeName: 'counter', data: { n: 1 } });
    await advance(300);
    expect(output.frames().some((f) => f.entities.some((e) => e.id === NOTE))).toBe(true);
    expect(of(output.to(connectionId), 'ack')).toEqual([]);
    await log.release();
    await advance(100);
    expect(of(output.to(connectionId), 'ack')).toEqual([{ type: 'ack', stamp: 1, seq: 1 }]);
  });

  it('[DUR-2] refuses a consumed sequence number only once durable, and welcome.lastSeq is what is durable', async () => {
    const log = new HeldLog();
    const { host, output, advance } = setup({ log });
    const { connectionId } = await join(host, 'ann');
    log.hold = true;
    sendOp(host, connectionId, 1, { op: 'update', entityId: NOTE, data: { n: 2 } });
    await advance(100);
    expect(of(output.to(connectionId), 'reject')).toEqual([]);
    const again = await join(host, 'ann');
    expect(again.welcome.lastSeq).toBe(0);
    await log.release();
    expect(of(output.to(connectionId), 'reject')).toMatchObject([
      { stamp: 1, seq: 1, code: ErrorCode.EntityNotFound },
    ]);
    const third = await join(host, 'ann');
    expect(third.welcome.lastSeq).toBe(1);
  });

  it('[DUR-3] recovers after a crash: state, members and sequence numbers from snapshot + log, frames never reused', async () => {
    const store = new MemorySnapshotStore();
    const log = new MemoryRoomLog();
    const wall = { now: 1_700_000_000_000 };
    const first = setup({ store, log, wall });
    const { connectionId } = await join(first.host, 'ann');
    const send = (seq: number, op: Op) => sendOp(first.host, connectionId, seq, op);
    send(1, { op: 'create', entityId: NOTE, typeName: 'counter', data: { n: 1 } });
    send(2, { op: 'create', entityId: AVATAR, typeName: 'avatar', data: { x: 5 } });
    await first.advance(200);
    // A snapshot, then more changes that only the log holds.
    await first.host.flush();
    send(3, { op: 'update', entityId: NOTE, data: { n: 3 } });
    await first.advance(200);
    send(4, { op: 'update', entityId: NOTE, data: { n: 4 } });
    // Acks of a member that keeps sending go out once a second.
    await first.advance(1100);
    // The last frame issued: a frame sent, or the end of an idle stretch a heartbeat declared empty ([IDLE-2]).
    const lastFrame = Math.max(
      ...first.output.frames().map((f) => f.id),
      ...of(first.output.broadcasts, 'idle').map((m) => m.through),
    );
    const acked = of(first.output.to(connectionId), 'ack').at(-1);
    expect(acked?.seq).toBe(4);
    // Crash: the first host is abandoned without a close or a final snapshot; 2 s pass.
    wall.now += 2000;
    const second = setup({ store, log, wall });
    const resumed = await join(second.host, 'ann', 1, lastFrame);
    expect(resumed.connectionId).toBe(connectionId);
    expect(resumed.welcome.lastSeq).toBe(4);
    // The frame clock went on: past the last frame issued by 2 s of frames plus a second of margin.
    expect(resumed.welcome.frame).toBeGreaterThanOrEqual(lastFrame + 20 + 10);
    expect(resumed.welcome.frame).toBeLessThanOrEqual(lastFrame + 20 + 10 + 1);
    // Its frame is one the recovery does not know: the full state, not a delta from a frame whose changes are lost.
    expect(resumed.welcome.delta).toBe(false);
    const note = resumed.welcome.entities.find((e) => e.id === NOTE);
    expect(note?.fields).toEqual({ n: 4 });
    // The member kept its connection, so it still owns its entities and its next op applies.
    sendOp(second.host, connectionId, 5, { op: 'update', entityId: AVATAR, data: { x: 9 } });
    // A resend of an op acknowledged before the crash is a duplicate.
    sendOp(second.host, connectionId, 4, { op: 'update', entityId: NOTE, data: { n: 0 } });
    await second.advance(1100);
    expect(second.host.room(key)?.world.entity(NOTE)?.get('n')).toBe(4);
    expect(second.host.room(key)?.world.entity(AVATAR)?.get('x')).toBe(9);
    expect(of(second.output.to(connectionId), 'reject')).toEqual([]);
    expect(of(second.output.to(connectionId), 'ack').at(-1)).toMatchObject({ seq: 5 });
  });

  it('[DUR-4] a member that does not come back after a restart is removed after the grace period', async () => {
    const store = new MemorySnapshotStore();
    const log = new MemoryRoomLog();
    const first = setup({ store, log });
    const { connectionId } = await join(first.host, 'ann');
    sendOp(first.host, connectionId, 1, {
      op: 'create',
      entityId: AVATAR,
      typeName: 'avatar',
      data: { x: 5 },
    });
    await first.advance(200);
    const second = setup({ store, log });
    await join(second.host, 'bob');
    expect(second.host.room(key)?.getMember(connectionId)).toMatchObject({
      clientId: 'ann',
      attached: false,
    });
    await second.advance(800);
    expect(second.host.room(key)?.getMember(connectionId)).toBeUndefined();
    expect(second.host.room(key)?.world.entity(AVATAR)).toBeUndefined();
  });

  it('[DUR-5] a saved snapshot truncates the log, and recovery from it needs no record', async () => {
    const store = new MemorySnapshotStore();
    const log = new MemoryRoomLog();
    const first = setup({ store, log });
    const { connectionId } = await join(first.host, 'ann');
    sendOp(first.host, connectionId, 1, {
      op: 'create',
      entityId: NOTE,
      typeName: 'counter',
      data: { n: 7 },
    });
    await first.advance(300);
    expect((await log.read(key, 0)).length).toBeGreaterThan(0);
    await first.host.flush();
    const saved = await store.load(key);
    expect(await log.read(key, 0)).toEqual([]);
    const second = setup({ store, log });
    const { welcome } = await join(second.host, 'ann');
    expect(welcome.entities.find((e) => e.id === NOTE)?.fields).toEqual({ n: 7 });
    expect(welcome.frame).toBe((saved?.version ?? 0) + 10);
  });

  it('[DUR-6] an append that fails closes the members (transient code), acks nothing, and the room reloads', async () => {
    const log = new HeldLog();
    const { host, output, advance } = setup({ log });
    const { connectionId } = await join(host, 'ann');
    log.hold = true;
    sendOp(host, connectionId, 1, { op: 'create', entityId: NOTE, typeName: 'counter', data: { n: 1 } });
    await advance(100);
    await log.fail();
    expect(output.closed).toEqual([{ connectionId, code: CloseCode.Internal, reason: expect.any(String) }]);
    expect(host.roomCount).toBe(0);
    await advance(1500);
    expect(of(output.to(connectionId), 'ack')).toEqual([]);
    log.hold = false;
    const again = await join(host, 'ann');
    expect(again.welcome.lastSeq).toBe(0);
    expect(again.welcome.entities.find((e) => e.id === NOTE)).toBeUndefined();
  });

  it('[DUR-8] a member that sends every tick still gets acks, each for what is durable', async () => {
    const { host, output, advance } = setup();
    const { connectionId } = await join(host, 'ann');
    sendOp(host, connectionId, 1, { op: 'create', entityId: NOTE, typeName: 'counter', data: { n: 0 } });
    for (let seq = 2; seq <= 40; seq++) {
      await advance(100);
      sendOp(host, connectionId, seq, { op: 'update', entityId: NOTE, data: { n: seq } });
    }
    // Ops arrive between every two ticks, so something is always not yet durable: acks still come once a second.
    const acks = of(output.to(connectionId), 'ack').map((a) => a.seq);
    expect(acks.length).toBeGreaterThanOrEqual(3);
    expect(acks).toEqual([...acks].sort((a, b) => a - b));
    expect(acks.at(-1)).toBeGreaterThan(25);
  });

  it('[DUR-7] an idle room appends nothing', async () => {
    const log = new HeldLog();
    const { host, advance } = setup({ log });
    await join(host, 'ann');
    await advance(300);
    const after = log.appends;
    await advance(2000);
    expect(log.appends).toBe(after);
  });
});
