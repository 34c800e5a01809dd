import { describe, expect, it } from 'vitest';
import { CloseCode, ErrorCode, type ServerMessage, type WelcomeMessage } from '@p3/protocol';
import {
  ManualClock,
  ManualScheduler,
  MemorySnapshotStore,
  RoomHost,
  scopedRoomKey,
  type RoomKey,
  type RoomOutput,
} from '@p3/runtime';
import { RecordingOutput } from './recording-output.js';
import { roomTestWorld } from './room-test-world.js';

const world = roomTestWorld;

const key: RoomKey = { tenant: 'default', room: 'lobby' };
/** The output of each host: joins hand it their session, as a socket holds it (see RecordingOutput). */
const outputs = new WeakMap<RoomHost, RecordingOutput>();
const A = '0190d7a0-0000-7000-8000-0000000000aa';
const N = '0190d7a0-0000-7000-8000-0000000000bb';

function setup(options: { store?: MemorySnapshotStore; ackIntervalMs?: number } = {}) {
  const clock = new ManualClock();
  const scheduler = new ManualScheduler(clock);
  const output = new RecordingOutput();
  const store = options.store ?? new MemorySnapshotStore();
  const events: string[] = [];
  const host = new RoomHost({
    world,
    tickRate: 10,
    bufferFrame: 5,
    clock,
    scheduler,
    store,
    output,
    idleTimeoutMs: 1000,
    resumeGraceMs: 500,
    snapshotIntervalMs: 200,
    ...(options.ackIntervalMs === undefined ? {} : { ackIntervalMs: options.ackIntervalMs }),
    // A still wall clock: a reopened room continues exactly one second of frames past its last state.
    wallClock: () => 1_700_000_000_000,
    events: {
      connection: (_r, m) => events.push(`connect ${m.clientId}`),
      disconnection: (_r, m) => events.push(`disconnect ${m.clientId}`),
      frameDropped: (_r, d) => events.push(`dropped ${d.frame}`),
      entityCreated: (_r, c, e) => events.push(`created ${e.typeName} by ${c}`),
    },
  });
  outputs.set(host, output);
  return { clock, scheduler, output, store, host, events };
}

/** One update of A per tick (100 ms at 10 Hz), sequence numbers `from` to `to`. */
function keepSending(
  host: RoomHost,
  scheduler: ManualScheduler,
  connectionId: string,
  from: number,
  to: number,
): void {
  for (let seq = from; seq <= to; seq++) {
    host.receive(key, connectionId, {
      type: 'ops',
      stamp: 1,
      seq,
      ops: [{ op: 'update', entityId: A, data: { x: seq } }],
    });
    scheduler.advance(100);
  }
}

async function join(host: RoomHost, clientId: string, extra: { resumeFrame?: number; stamp?: number } = {}) {
  const result = await host.join({
    key,
    clientId,
    sessionStamp: extra.stamp ?? 1,
    ...(extra.resumeFrame === undefined ? {} : { resumeFrame: extra.resumeFrame }),
  });
  if (!result.ok) throw result.error;
  outputs.get(host)?.track(result);
  return result;
}

const of = <T extends ServerMessage['type']>(messages: ServerMessage[], type: T) =>
  messages.filter((m): m is Extract<ServerMessage, { type: T }> => m.type === type);

describe('RoomHost', () => {
  it('creates a room on first join and welcomes with schema, frame and full state', async () => {
    const { host, events } = setup();
    const { welcome } = await join(host, 'alice');
    expect(welcome).toMatchObject({
      type: 'welcome',
      room: 'lobby',
      tickRate: 10,
      bufferFrame: 5,
      frame: 0,
      lastSeq: 0,
      delta: false,
      entities: [],
    });
    expect(Object.keys(welcome.schema)).toEqual(['avatar', 'note', 'counter']);
    expect(host.roomCount).toBe(1);
    expect(events).toEqual(['connect alice']);
  });

  it('spreads its rooms over the tick interval, and ticks each once per interval whatever the clock steps', async () => {
    const clock = new ManualClock();
    const scheduler = new ManualScheduler(clock);
    const ticks: Array<{ room: string; at: number; frame: number }> = [];
    const output: RoomOutput = { broadcast: () => undefined, send: () => undefined, close: () => undefined };
    const store = new MemorySnapshotStore();
    const host = new RoomHost({
      world,
      tickRate: 30,
      bufferFrame: 5,
      clock,
      scheduler,
      store,
      output,
      // Every tick, sent or not (empty frames are not: [IDLE-1]).
      events: {
        frame: (room, frame) => ticks.push({ room: room.key.room, at: clock.now(), frame: frame.id }),
      },
    });
    const rooms = ['a', 'b', 'c', 'd'];
    for (const room of rooms) {
      const joined = await host.join({ key: { tenant: 'default', room }, clientId: room, sessionStamp: 1 });
      expect(joined.ok).toBe(true);
    }
    const interval = 1000 / 30;
    // Steps that are no fraction of the interval, as a real event loop's: due times land between float values.
    for (let i = 0; i < 370; i++) scheduler.advance(interval / 3.7);
    const phases = rooms.map((room) => {
      const mine = ticks.filter((t) => t.room === room);
      // Whole frames, one per interval, none skipped or repeated.
      expect(mine.map((t) => t.frame)).toEqual(Array.from({ length: mine.length }, (_, i) => i + 1));
      expect(mine.length).toBeGreaterThanOrEqual(98);
      expect(mine.length).toBeLessThanOrEqual(100);
      return (mine[0]!.at % interval) / interval;
    });
    // Every pair of rooms ticks at least a tenth of an interval apart.
    for (const p of phases) for (const q of phases) if (p !== q) expect(Math.abs(p - q)).toBeGreaterThan(0.1);
    await host.close();
  });

  it('reports how late each tick timer ran and how long its ticks took, also when it catches up after a stall', async () => {
    const clock = new ManualClock();
    const manual = new ManualScheduler(clock);
    // Every timer fires 3 ms after it was due (one, later, 2 s after), and each tick takes 2 ms of the clock.
    let nextLateBy = 3;
    const scheduler = {
      after: (ms: number, run: () => void) => {
        const lateBy = nextLateBy;
        nextLateBy = 3;
        return manual.after(ms + lateBy, run);
      },
    };
    const output: RoomOutput = { broadcast: () => undefined, send: () => undefined, close: () => undefined };
    const timings: Array<{ lateMs: number; workMs: number }> = [];
    const host = new RoomHost({
      world,
      tickRate: 10,
      bufferFrame: 5,
      clock,
      scheduler,
      store: new MemorySnapshotStore(),
      output,
      // No snapshot timer after the first: only tick timers take the stall.
      snapshotIntervalMs: 1e9,
      maxCatchUpTicks: 5,
      events: { ticked: (_room, timing) => timings.push(timing), frame: () => clock.advance(2) },
    });
    await join(host, 'c1');
    manual.advance(1000);
    expect(timings.length).toBeGreaterThanOrEqual(9);
    for (const timing of timings) {
      expect(timing.lateMs).toBeCloseTo(3, 6);
      expect(timing.workMs).toBeCloseTo(2, 6);
    }
    // A stall: the room runs 5 ticks at once and moves its epoch; the work is still what those ticks took.
    nextLateBy = 2000;
    manual.advance(100);
    const before = timings.length;
    manual.advance(3000);
    const stalled = timings.slice(before).find((t) => t.lateMs > 1000);
    expect(stalled?.lateMs).toBeGreaterThan(1900);
    expect(stalled?.workMs).toBeCloseTo(5 * 2, 6);
    await host.close();
  });

  it('acks a member that keeps sending once per ackIntervalMs (here a second: 10 ticks)', async () => {
    const { host, scheduler, output } = setup({ ackIntervalMs: 1000 });
    const { connectionId } = await join(host, 'alice');
    const create = { op: 'create' as const, entityId: A, typeName: 'avatar', data: { x: 0 } };
    host.receive(key, connectionId, { type: 'ops', stamp: 1, seq: 1, ops: [create] });
    scheduler.advance(100);
    keepSending(host, scheduler, connectionId, 2, 12);
    // The first at once, the next ten ticks later (covering the ops of frames 2 to 11), none in between.
    expect(of(output.to(connectionId), 'ack').map((a) => a.seq)).toEqual([1, 11]);
  });

  it('ticks at its rate, acks ops by sequence number in batches, suppresses duplicates and reports creations', async () => {
    const { host, scheduler, output, events } = setup();
    const { connectionId } = await join(host, 'alice');
    const ops = {
      type: 'ops' as const,
      stamp: 1,
      seq: 1,
      ops: [{ op: 'create' as const, entityId: A, typeName: 'avatar', data: { x: 5 } }],
    };
    host.receive(key, connectionId, ops);
    host.receive(key, connectionId, ops);
    expect(of(output.to(connectionId), 'ack')).toEqual([]); // acks go out with ticks
    scheduler.advance(350);
    expect(of(output.to(connectionId), 'ack')).toEqual([{ type: 'ack', stamp: 1, seq: 1 }]);
    // Frame 1 created the avatar; frames 2 and 3 changed nothing and are not sent ([IDLE-1]).
    expect(output.frames().map((f) => f.id)).toEqual([1]);
    // A member that keeps sending (an op every tick here) gets one ack per ackIntervalMs (250 ms: 3 ticks at 10 Hz)
    // covering everything received meanwhile: acks at frames 4 and 7 for the ops of frames 4 to 8.
    keepSending(host, scheduler, connectionId, 2, 6);
    expect(of(output.to(connectionId), 'ack')).toHaveLength(3);
    scheduler.advance(600);
    expect(of(output.to(connectionId), 'ack')).toEqual([
      { type: 'ack', stamp: 1, seq: 1 },
      { type: 'ack', stamp: 1, seq: 2 },
      { type: 'ack', stamp: 1, seq: 5 },
      { type: 'ack', stamp: 1, seq: 6 },
    ]);
    // Many ops waiting do not wait for the second: the client's resend log stays short at high send rates.
    for (let m = 0; m < 8; m++) {
      const ops = Array.from({ length: 8 }, (_, i) => ({
        op: 'update' as const,
        entityId: A,
        data: { x: m * 8 + i },
      }));
      host.receive(key, connectionId, { type: 'ops', stamp: 1, seq: 7 + m * 8, ops });
    }
    scheduler.advance(100);
    expect(of(output.to(connectionId), 'ack').at(-1)).toEqual({ type: 'ack', stamp: 1, seq: 70 });
    expect(output.frames()[0]?.entities).toHaveLength(1);
    expect(events).toContain(`created avatar by ${connectionId}`);
  });

  it('rejects refused ops with their code and reason, and reports frames older than the window', async () => {
    const { host, scheduler, output, events } = setup();
    const { connectionId } = await join(host, 'alice');
    scheduler.advance(1000); // frame 10
    host.receive(key, connectionId, {
      type: 'ops',
      stamp: 1,
      seq: 1,
      ops: [
        { op: 'update', entityId: A, data: { x: 1 } },
        { op: 'event', name: 'late', eventType: 't', data: null, frame: 2 },
      ],
    });
    const rejects = of(output.to(connectionId), 'reject');
    expect(rejects.map((r) => [r.seq, r.code])).toEqual([
      [1, ErrorCode.EntityNotFound],
      [2, ErrorCode.FrameDropped],
    ]);
    expect(rejects[0]?.reason).toMatch(/does not exist/);
    expect(events).toContain('dropped 2');
  });

  it('broadcasts corrected frames when a late input lands inside the window', async () => {
    const { host, scheduler, output } = setup();
    const { connectionId } = await join(host, 'alice');
    host.receive(key, connectionId, {
      type: 'ops',
      stamp: 1,
      seq: 1,
      ops: [{ op: 'create', entityId: A, typeName: 'avatar', data: {} }],
    });
    scheduler.advance(500); // frames 1..5
    host.receive(key, connectionId, {
      type: 'ops',
      stamp: 1,
      seq: 2,
      ops: [{ op: 'input', entityId: A, input: { right: true }, frame: 3 }],
    });
    scheduler.advance(100); // frame 6
    const frames = output.frames();
    expect(frames.slice(-4).map((f) => [f.id, f.type])).toEqual([
      [3, 'corrected'],
      [4, 'corrected'],
      [5, 'corrected'],
      [6, 'generated'],
    ]);
  });

  it('answers ping with room time and frame, and resync with a catch-up delta', async () => {
    const { host, scheduler, output } = setup();
    const { connectionId } = await join(host, 'alice');
    scheduler.advance(250);
    host.receive(key, connectionId, { type: 'ping', id: 7, clientTime: 123 });
    expect(of(output.to(connectionId), 'pong')).toEqual([
      { type: 'pong', id: 7, clientTime: 123, serverTime: 250, frame: 2 },
    ]);
    host.receive(key, connectionId, { type: 'resync', frame: 0 });
    expect(of(output.to(connectionId), 'catchup')[0]).toMatchObject({ from: 0, to: 2, full: false });
  });

  it('resumes a client within the grace period with a delta and its last sequence number', async () => {
    const { host, scheduler, output, events } = setup();
    const first = await join(host, 'alice');
    host.receive(key, first.connectionId, {
      type: 'ops',
      stamp: 1,
      seq: 1,
      ops: [{ op: 'create', entityId: A, typeName: 'avatar', data: {} }],
    });
    scheduler.advance(200);
    host.leave(key, first.connectionId);
    const bob = await join(host, 'bob');
    host.receive(key, bob.connectionId, {
      type: 'ops',
      stamp: 1,
      seq: 1,
      ops: [{ op: 'create', entityId: N, typeName: 'note', data: { text: 'hi' } }],
    });
    scheduler.advance(200);
    const again = await join(host, 'alice', { resumeFrame: 2 });
    expect(again.connectionId).toBe(first.connectionId);
    expect(again.welcome.delta).toBe(true);
    expect(again.welcome.lastSeq).toBe(1);
    expect(again.welcome.entities.map((e) => e.id)).toEqual([N]);
    expect(events.filter((e) => e.startsWith('connect'))).toEqual(['connect alice', 'connect bob']);
    expect(output.closed).toEqual([]);
  });

  it("still knows a client's applied sequence numbers after its grace expired (no duplicate on a late resend)", async () => {
    const { host, scheduler, output } = setup();
    const first = await join(host, 'alice');
    await join(host, 'bob');
    host.receive(key, first.connectionId, {
      type: 'ops',
      stamp: 1,
      seq: 1,
      ops: [{ op: 'create', entityId: N, typeName: 'note', data: { text: 'once' } }],
    });
    scheduler.advance(100);
    host.leave(key, first.connectionId);
    scheduler.advance(700);
    const again = await join(host, 'alice');
    expect(again.connectionId).not.toBe(first.connectionId);
    expect(again.welcome.lastSeq).toBe(1);
    host.receive(key, again.connectionId, {
      type: 'ops',
      stamp: 1,
      seq: 1,
      ops: [{ op: 'create', entityId: N, typeName: 'note', data: { text: 'once' } }],
    });
    expect(output.to(again.connectionId).filter((m) => m.type === 'reject')).toEqual([]);
  });

  it('replaces an attached session of the same client, closing the old socket', async () => {
    const { host, output } = setup();
    const first = await join(host, 'alice');
    const second = await join(host, 'alice', { stamp: 2 });
    expect(second.connectionId).toBe(first.connectionId);
    expect(output.closed).toEqual([
      { connectionId: first.connectionId, code: CloseCode.Replaced, reason: expect.any(String) },
    ]);
  });

  it('removes a member after the grace period, and its connection-bound entities with it', async () => {
    const { host, scheduler, output, events } = setup();
    const { connectionId } = await join(host, 'alice');
    await join(host, 'watcher');
    host.receive(key, connectionId, {
      type: 'ops',
      stamp: 1,
      seq: 1,
      ops: [{ op: 'create', entityId: A, typeName: 'avatar', data: {} }],
    });
    scheduler.advance(100);
    host.leave(key, connectionId);
    scheduler.advance(600);
    expect(events).toContain('disconnect alice');
    expect(output.frames().some((f) => f.removed.includes(A))).toBe(true);
  });

  it('saves snapshots while changing, closes idle rooms and restores them on the next join', async () => {
    const store = new MemorySnapshotStore();
    const { host, scheduler } = setup({ store });
    const { connectionId } = await join(host, 'alice');
    host.receive(key, connectionId, {
      type: 'ops',
      stamp: 1,
      seq: 1,
      ops: [{ op: 'create', entityId: N, typeName: 'note', data: { text: 'kept' } }],
    });
    scheduler.advance(300);
    expect((await store.load(key))?.kind).toBe('world');
    host.receive(key, connectionId, { type: 'leave' });
    scheduler.advance(1500);
    await new Promise((resolve) => setImmediate(resolve));
    expect(host.roomCount).toBe(0);
    const saved = await store.load(key);
    const { welcome } = await join(host, 'carol');
    // A reopened room continues after every frame it may have issued: a second (10 frames) past its snapshot.
    expect(welcome.frame).toBe((saved?.version ?? 0) + 10);
    expect(welcome.entities).toEqual([expect.objectContaining({ id: N, fields: { text: 'kept' } })]);
  });

  it('[ROOM-6] continues a team room saved under its bare name before rooms were scoped, for that team only', async () => {
    const store = new MemorySnapshotStore();
    // A snapshot of the earlier layout: room `lobby`, owned by team blue (its first authenticated member).
    const old = setup({ store });
    const { connectionId } = await join(old.host, 'ann');
    old.host.receive(key, connectionId, {
      type: 'ops',
      stamp: 1,
      seq: 1,
      ops: [{ op: 'create', entityId: N, typeName: 'note', data: { text: 'blue plans' } }],
    });
    old.scheduler.advance(300);
    await old.host.close();
    const saved = await store.load(key);
    await store.save(key, { ...saved!, team: 'blue' });
    const blue = { user: 'ann', team: 'blue' };
    const red = { user: 'rob', team: 'red' };
    const host = setup({ store }).host;
    const asBlue = await host.join({
      key: scopedRoomKey('default', 'lobby', blue),
      clientId: 'ann-laptop',
      sessionStamp: 1,
      principal: blue,
    });
    const asRed = await host.join({
      key: scopedRoomKey('default', 'lobby', red),
      clientId: 'rob',
      sessionStamp: 1,
      principal: red,
    });
    if (!asBlue.ok) throw asBlue.error;
    expect(asBlue.welcome.entities.map((e) => e.fields)).toEqual([{ text: 'blue plans' }]);
    expect(asBlue.ok && asBlue.welcome.room).toBe('lobby');
    expect(asRed.ok && asRed.welcome.entities).toEqual([]);
  });

  it('drains on close: members are told to reconnect and the final state is saved', async () => {
    const store = new MemorySnapshotStore();
    const { host, scheduler, output } = setup({ store });
    const { connectionId } = await join(host, 'alice');
    host.receive(key, connectionId, {
      type: 'ops',
      stamp: 1,
      seq: 1,
      ops: [{ op: 'create', entityId: N, typeName: 'note', data: { text: 'kept' } }],
    });
    scheduler.advance(100);
    await host.close();
    expect(output.closed).toEqual([
      { connectionId, code: CloseCode.ServerDraining, reason: expect.any(String) },
    ]);
    expect((await store.load(key))?.version).toBe(1);
    const refused = await host.join({ key, clientId: 'late', sessionStamp: 1 });
    expect(refused.ok).toBe(false);
  });

  it('keeps the welcome consistent: frames after it continue at welcome.frame + 1', async () => {
    const { host, scheduler, output } = setup();
    scheduler.advance(0);
    const alice = await join(host, 'alice');
    scheduler.advance(300);
    const { welcome } = (await join(host, 'bob')) as { welcome: WelcomeMessage };
    host.receive(key, alice.connectionId, {
      type: 'ops',
      stamp: 1,
      seq: 1,
      ops: [{ op: 'create', entityId: A, typeName: 'avatar', data: {} }],
    });
    const before = output.broadcasts.length;
    scheduler.advance(100);
    // The next frame follows the welcome; the empty frames before it were skipped, and it says so ([IDLE-1]).
    expect(output.broadcasts[before]).toMatchObject({ type: 'frame', frame: { id: welcome.frame + 1 } });
    const { prev } = output.broadcasts[before] as { prev?: number };
    expect(prev).toBeLessThanOrEqual(welcome.frame);
  });
});
