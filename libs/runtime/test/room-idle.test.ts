import { describe, expect, it } from 'vitest';
import type { FrameMessage, IdleMessage, JsonValue, Op, ServerMessage } from '@p3/protocol';
import {
  ManualClock,
  ManualScheduler,
  MemoryRoomLog,
  MemorySnapshotStore,
  RoomHost,
  type RoomKey,
  type RoomLog,
} from '@p3/runtime';
import { RecordingOutput } from './recording-output.js';
import { roomTestWorld } from './room-test-world.js';

// Idle costs nothing ([IDLE-n] in SPEC.md): a tick that changes nothing sends nothing but a heartbeat at most once
// per interval, frames name the frame they follow, and a room nobody is attached to does not tick at all.

const world = roomTestWorld;

const key: RoomKey = { tenant: 'default', room: 'idle' };
const AVATAR = '0190d7a0-0000-7000-8000-0000000000aa';
const NOTE = '0190d7a0-0000-7000-8000-0000000000bb';
const BOB = '0190d7a0-0000-7000-8000-0000000000cc';
const interval = 100; // tickRate 10

class CountingLog implements RoomLog {
  readonly inner = new MemoryRoomLog();
  appends = 0;
  append(k: RoomKey, version: number, data: JsonValue): Promise<void> {
    this.appends++;
    return this.inner.append(k, version, data);
  }
  read(k: RoomKey, after: number) {
    return this.inner.read(k, after);
  }
  truncate(k: RoomKey, through: number) {
    return this.inner.truncate(k, through);
  }
  close() {
    return this.inner.close();
  }
}

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

function setup(options: { idleHeartbeatMs?: number; log?: RoomLog } = {}) {
  const clock = new ManualClock(1000);
  const scheduler = new ManualScheduler(clock);
  const output = new RecordingOutput();
  /** Clock time minus frame x interval of every step: constant while the frame clock does not drift. */
  const offsets: number[] = [];
  const host = new RoomHost({
    world,
    tickRate: 10,
    bufferFrame: 5,
    clock,
    scheduler,
    store: new MemorySnapshotStore(),
    output,
    idleTimeoutMs: 600_000,
    resumeGraceMs: 500,
    snapshotIntervalMs: 600_000,
    wallClock: () => 1_700_000_000_000,
    ...(options.log === undefined ? {} : { log: options.log }),
    ...(options.idleHeartbeatMs === undefined ? {} : { idleHeartbeatMs: options.idleHeartbeatMs }),
    events: { frame: (_room, frame) => offsets.push(clock.now() - frame.id * interval) },
  });
  const advance = async (ms: number) => {
    for (let t = 0; t < ms; t += 50) {
      scheduler.advance(Math.min(50, ms - t));
      await settle();
    }
  };
  const join = async (clientId: string) => {
    const result = await host.join({ key, clientId, sessionStamp: 1 });
    if (!result.ok) throw result.error;
    output.track(result);
    return result;
  };
  let seq = 0;
  const send = (connectionId: string, op: Op, through?: number) =>
    host.receive(key, connectionId, {
      type: 'ops',
      stamp: 1,
      seq: ++seq,
      ...(through === undefined ? {} : { through }),
      ops: [op],
    });
  return { clock, scheduler, output, host, offsets, advance, join, send };
}

const stream = (messages: readonly ServerMessage[]) =>
  messages.filter((m): m is FrameMessage | IdleMessage => m.type === 'frame' || m.type === 'idle');

/** The frames a member holding `from` accounts for after each message of the stream, checking it has no gap. */
function followStream(from: number, messages: readonly ServerMessage[]): number {
  let held = from;
  for (const m of stream(messages)) {
    if (m.type === 'idle') {
      expect(m.prev).toBeLessThanOrEqual(held);
      held = Math.max(held, m.through);
    } else if (m.frame.id > held) {
      expect(m.prev ?? m.frame.id - 1).toBeLessThanOrEqual(held);
      held = m.frame.id;
    }
  }
  return held;
}

describe('TickedRoom when idle', () => {
  it('[IDLE-1] a tick that changes nothing sends nothing; the next frame names the frame it follows', async () => {
    const { host, output, advance, join, send } = setup();
    const { connectionId, welcome } = await join('ann');
    send(connectionId, { op: 'create', entityId: NOTE, typeName: 'counter', data: { n: 1 } });
    await advance(interval);
    const first = stream(output.broadcasts);
    expect(first).toHaveLength(1);
    expect(first[0]).toMatchObject({ type: 'frame', frame: { id: welcome.frame + 1 } });
    expect(first[0]).not.toHaveProperty('prev');
    // Half a second of ticks that change nothing: not one message.
    await advance(500);
    expect(stream(output.broadcasts)).toHaveLength(1);
    const room = host.room(key)!;
    expect(room.world.frame).toBe(welcome.frame + 6);
    send(connectionId, { op: 'update', entityId: NOTE, data: { n: 2 } });
    await advance(interval);
    const second = stream(output.broadcasts)[1] as FrameMessage;
    expect(second.frame.id).toBe(welcome.frame + 7);
    expect(second.prev).toBe(welcome.frame + 1);
    // Acks still go out with the ticks (a member's first ack at once, the next one an ack interval later).
    await advance(1000);
    expect(
      output
        .to(connectionId)
        .filter((m) => m.type === 'ack')
        .at(-1),
    ).toMatchObject({ seq: 2 });
  });

  it('[IDLE-2] while nothing changes, one idle heartbeat per interval says the frames up to now were empty', async () => {
    const { host, output, advance, join, clock } = setup();
    const { welcome } = await join('ann');
    const heartbeats: Array<{ at: number; message: IdleMessage }> = [];
    const broadcast = output.broadcast.bind(output);
    output.broadcast = (k, m) => {
      if (m.type === 'idle') heartbeats.push({ at: clock.now(), message: m });
      broadcast(k, m);
    };
    await advance(3500);
    expect(stream(output.broadcasts).filter((m) => m.type === 'frame')).toEqual([]);
    expect(heartbeats).toHaveLength(3);
    const room = host.room(key)!;
    let prev = welcome.frame;
    for (const [i, { at, message }] of heartbeats.entries()) {
      expect(message.prev).toBe(prev);
      expect(message.through - message.prev).toBe(10);
      if (i > 0) expect(at - heartbeats[i - 1]!.at).toBeGreaterThanOrEqual(1000);
      prev = message.through;
    }
    expect(room.world.frame - prev).toBeLessThan(10);
    expect(followStream(welcome.frame, output.broadcasts)).toBe(prev);

    // The interval is a setting (heartbeats go with ticks: here every third tick, 300 ms apart).
    const fast = setup({ idleHeartbeatMs: 250 });
    await fast.join('bob');
    await fast.advance(3000);
    expect(stream(fast.output.broadcasts).filter((m) => m.type === 'idle')).toHaveLength(10);
  });

  it('[IDLE-1] a late op for a skipped frame re-issues it in the stream: corrected, after the frame it follows', async () => {
    const { output, advance, join, send, host } = setup();
    const { connectionId, welcome } = await join('ann');
    send(connectionId, { op: 'create', entityId: AVATAR, typeName: 'avatar', data: { x: 5 } });
    await advance(interval);
    const created = welcome.frame + 1;
    await advance(3 * interval); // three empty frames, skipped
    expect(stream(output.broadcasts)).toHaveLength(1);
    send(
      connectionId,
      { op: 'input', entityId: AVATAR, input: { right: true }, frame: created + 2 },
      created + 4,
    );
    await advance(interval);
    const frames = stream(output.broadcasts).slice(1) as FrameMessage[];
    expect(frames.map((m) => [m.frame.id, m.frame.type, m.prev])).toEqual([
      [created + 2, 'corrected', created],
      [created + 3, 'corrected', undefined],
      [created + 4, 'verified', undefined],
    ]);
    expect(followStream(welcome.frame, output.broadcasts)).toBe(created + 4);
    expect(host.room(key)!.world.entity(AVATAR)!.get('x')).toBe(8);
  });

  it('[IDLE-4] a room nobody is attached to stops ticking, and ticks again at the frame its clock says', async () => {
    const log = new CountingLog();
    const { host, output, offsets, advance, join, send, scheduler } = setup({ log });
    const ann = await join('ann');
    send(ann.connectionId, { op: 'create', entityId: AVATAR, typeName: 'avatar', data: { x: 1 } });
    await advance(500);
    const room = host.room(key)!;
    expect(room.ticking).toBe(true);
    // Ann's socket closes: detached, within her grace (500 ms) the room keeps her avatar and stops ticking.
    host.leave(key, ann.connectionId);
    await advance(300);
    expect(room.ticking).toBe(false);
    const steps = room.steps;
    const pending = scheduler.pending;
    await advance(200);
    // The grace timer removed her: a disconnection scheduled for the next frame wakes the room, which applies it.
    expect(room.memberCount).toBe(0);
    const removal = stream(output.broadcasts).at(-1) as FrameMessage;
    expect(removal.frame.removed).toEqual([AVATAR]);
    expect(room.steps).toBeGreaterThan(steps);
    await advance(500);
    expect(room.ticking).toBe(false);
    // It rested only once the removal was in the log (nothing waits for a record while it does not tick).
    expect((await log.read(key, 0)).at(-1)!.version).toBeGreaterThanOrEqual(removal.frame.id);
    const resting = room.steps;
    const appends = log.appends;
    await advance(10_000);
    expect(room.steps).toBe(resting);
    expect(scheduler.pending).toBeLessThanOrEqual(pending);
    expect(log.appends).toBe(appends);
    // Server code schedules work: the room ticks again, at the frame its clock says (no drift).
    room.world.createEntity('counter', { n: 7 }, { id: NOTE });
    expect(room.ticking).toBe(true);
    await advance(interval);
    const woke = stream(output.broadcasts).at(-1) as FrameMessage;
    expect(woke.frame.entities.map((e) => e.id)).toEqual([NOTE]);
    expect(woke.prev).toBe(removal.frame.id);
    expect(woke.frame.id - removal.frame.id).toBeGreaterThan(100);
    // Every step, before and after the rest, ran at clock time = frame x interval + one constant.
    for (const offset of offsets) expect(offset).toBeCloseTo(offsets[0]!, 6);
    await advance(1000);
    expect(room.ticking).toBe(false);
    // A join wakes it too; its welcome names the frame the clock says, and frames follow it.
    await advance(5000);
    const bob = await join('bob');
    expect(room.ticking).toBe(true);
    expect(host.room(key)!.time - bob.welcome.frame * interval).toBeGreaterThanOrEqual(0);
    expect(host.room(key)!.time - bob.welcome.frame * interval).toBeLessThan(interval);
    send(bob.connectionId, { op: 'create', entityId: BOB, typeName: 'avatar', data: { x: 8 } });
    await advance(interval);
    const next = stream(output.broadcasts).at(-1) as FrameMessage;
    expect(next.frame.id).toBe(bob.welcome.frame + 1);
    expect(next.prev ?? next.frame.id - 1).toBeLessThanOrEqual(bob.welcome.frame);
    for (const offset of offsets) expect(offset).toBeCloseTo(offsets[0]!, 6);
    // An attached member keeps it ticking, idle or not.
    await advance(3000);
    expect(room.ticking).toBe(true);
  });

  it('[IDLE-6] an owner that falls idle sends one cover: frames stay verified until its next ops', async () => {
    const { host, output, advance, join, send } = setup();
    const ann = await join('ann');
    const bob = await join('bob');
    const room = host.room(key)!;
    send(
      ann.connectionId,
      { op: 'create', entityId: AVATAR, typeName: 'avatar', data: {} },
      room.world.frame + 1,
    );
    send(
      bob.connectionId,
      { op: 'create', entityId: BOB, typeName: 'avatar', data: {} },
      room.world.frame + 1,
    );
    send(bob.connectionId, { op: 'input', entityId: BOB, input: { right: true } }, room.world.frame + 1);
    await advance(interval);
    // Both fall idle: one cover each, then nothing. Bob's avatar keeps moving (his input is sticky).
    host.receive(key, ann.connectionId, { type: 'cover', through: room.world.frame + 1 });
    host.receive(key, bob.connectionId, { type: 'cover', through: room.world.frame + 1 });
    const sent = output.broadcasts.length;
    await advance(20 * interval);
    const types = (from: number) =>
      stream(output.broadcasts.slice(from)).flatMap((m) => (m.type === 'frame' ? [m.frame.type] : []));
    expect(types(sent)).toHaveLength(20);
    expect(new Set(types(sent))).toEqual(new Set(['verified']));
    // Ann sends ops without `through`: no longer idle, and her inputs are not declared complete.
    send(ann.connectionId, { op: 'update', entityId: AVATAR, data: { x: 3 } });
    const active = output.broadcasts.length;
    await advance(5 * interval);
    expect(new Set(types(active))).toEqual(new Set(['generated']));
  });

  it('[IDLE-4] a room rests only once what changed is in its log (the log interval holds a record back)', async () => {
    const log = new CountingLog();
    const { host, output, advance, join, send } = setup({ log });
    const ann = await join('ann');
    send(ann.connectionId, { op: 'create', entityId: NOTE, typeName: 'counter', data: { n: 1 } });
    await advance(interval);
    // A change right after a record waits for the next one (250 ms), and its member leaves at once.
    send(ann.connectionId, { op: 'update', entityId: NOTE, data: { n: 2 } });
    host.leave(key, ann.connectionId);
    await advance(interval);
    const changed = stream(output.broadcasts).at(-1) as FrameMessage;
    expect(changed.frame.entities[0]?.fields).toEqual({ n: 2 });
    // Within ann's grace (500 ms), which would wake the room anyway: it kept ticking until the record was taken.
    await advance(300);
    const room = host.room(key)!;
    expect(room.ticking).toBe(false);
    expect((await log.read(key, 0)).at(-1)!.version).toBeGreaterThanOrEqual(changed.frame.id);
  });

  it('[IDLE-5] the room log writes nothing while the room is idle, heartbeats included', async () => {
    const log = new CountingLog();
    const { output, advance, join, send } = setup({ log });
    const ann = await join('ann');
    send(ann.connectionId, { op: 'create', entityId: NOTE, typeName: 'counter', data: { n: 1 } });
    await advance(1000);
    const appends = log.appends;
    expect(appends).toBeGreaterThan(0);
    await advance(5000);
    expect(stream(output.broadcasts).filter((m) => m.type === 'idle').length).toBeGreaterThanOrEqual(4);
    expect(log.appends).toBe(appends);
  });
});
