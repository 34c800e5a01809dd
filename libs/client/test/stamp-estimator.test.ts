import { describe, expect, it } from 'vitest';
import { FrameType, type EntityUpdate, type Frame, type Op, type OpsMessage } from '@p3/protocol';
import { ClockSync } from '@p3/client';
import { StampEstimator } from '../src/stamp-estimator.js';

const E = '0190d7a0-0000-7000-8000-0000000000e1';
const tick = 50;

/**
 * A clock synced to a room whose time is local time + 10 s, over a link of 2 ms each way: a message sent now
 * reaches the room at (now + 10 000 + 2) on its clock.
 */
function synced() {
  const local = { now: 1000 };
  const clock = new ClockSync({ now: () => local.now });
  const sample = (upMs: number, downMs: number) =>
    clock.addSample(local.now - upMs - downMs, local.now - downMs + 10_000, local.now);
  sample(2, 2);
  return { local, clock, sample };
}

const update = (frame: number, x: number): Op => ({ op: 'update', entityId: E, data: { x }, frame });
const batch = (through: number, ...ops: Op[]): OpsMessage => ({
  type: 'ops',
  stamp: 1,
  seq: 1,
  through,
  ops,
});
const frame = (id: number, type: FrameType, entities: EntityUpdate[] = []): Frame => ({
  id,
  type,
  time: id * tick,
  events: [],
  entities,
  removed: [],
});
const withX = (x: number): EntityUpdate => ({ id: E, typeName: 'avatar', fields: { x } });

describe('StampEstimator', () => {
  it('[CLIENT-31] stamps the first frame after the arrival (room time now + half the best round trip + 1 ms), or a fixed delay', () => {
    const { local, clock } = synced();
    const auto = new StampEstimator(clock, 'auto');
    // Room time 11 045 at sending, 11 048 with trip and margin: frame 220 was simulated at 11 000, 221 comes at 11 050.
    local.now = 1045;
    expect(auto.frame(tick, 0)).toBe(221);
    local.now = 1047.5;
    expect(auto.frame(tick, 0)).toBe(222);
    // Never below the frame after the latest one the client holds.
    expect(auto.frame(tick, 300)).toBe(300);
    // Fixed: the estimated server frame (220 at room time 11 047.5) + 2.
    expect(new StampEstimator(clock, 2).frame(tick, 0)).toBe(222);
    expect(new StampEstimator(new ClockSync({ now: () => 0 }), 'auto').frame(tick, 5)).toBeUndefined();
  });

  it('[CLIENT-32] a ping that took longer to reach the room widens the margin by the mean spread of the trips up', () => {
    const { local, clock, sample } = synced();
    const stamps = new StampEstimator(clock, 'auto');
    local.now = 1030; // room 11 030; + 3 ms -> 221
    expect(stamps.frame(tick, 0)).toBe(221);
    sample(42, 2); // 40 ms more on the way up than the best: mean spread 20 ms
    expect(clock.arrivalSpread).toBeCloseTo(20, 6);
    expect(stamps.frame(tick, 0)).toBe(222); // 11 030 + 2 + 20 + 1 = 11 053
  });

  it('[CLIENT-32] an op shown only by the correction of its frame came late: the margin grows, once per raise', () => {
    const { local, clock } = synced();
    const stamps = new StampEstimator(clock, 'auto');
    local.now = 1045;
    expect(stamps.frame(tick, 0)).toBe(221);
    stamps.sent(batch(221, update(221, 1)));
    stamps.sent(batch(221, update(221, 2)));
    // Frame 221 came without the ops; the next tick re-ran it with them (corrected), then frame 222.
    stamps.observe(frame(221, FrameType.Verified));
    local.now = 1050;
    stamps.observe(frame(221, FrameType.Corrected, [withX(1)]));
    // Both came late, but one raise answers both (they were sent with the same margin): a quarter tick.
    expect(stamps.learntMs).toBeCloseTo(12.5, 6);
    stamps.observe(frame(222, FrameType.Generated, [withX(2)]));
    expect(stamps.learntMs).toBeCloseTo(12.5, 6);
    // Room time 11 045 again: 11 045 + 2 + 1 + 12.5 -> the frame after 221.
    local.now = 1045;
    expect(stamps.frame(tick, 0)).toBe(222);
    // The margin halves every 20 s without late ops.
    local.now = 21_050;
    expect(stamps.learntMs).toBeCloseTo(6.25, 3);
  });

  it('[CLIENT-32] what clock sync later adds to its arrival estimate comes off the learnt margin', () => {
    const { local, clock, sample } = synced();
    const stamps = new StampEstimator(clock, 'auto');
    local.now = 1045;
    expect(stamps.frame(tick, 0)).toBe(221);
    stamps.sent(batch(221, update(221, 1)));
    stamps.observe(frame(221, FrameType.Verified));
    stamps.observe(frame(221, FrameType.Corrected, [withX(1)]));
    expect(stamps.learntMs).toBeCloseTo(12.5, 6);
    // The way up got 10 ms slower, and every kept ping now shows it: the estimate moved 10 ms later by itself.
    for (let i = 0; i < 8; i++) sample(12, 2);
    expect(clock.arrivalSpread).toBeCloseTo(0, 6);
    expect(stamps.learntMs).toBeCloseTo(2.5, 6);
  });

  it('[CLIENT-32] an op shown in its own frame was on time, whatever corrections of that frame come after', () => {
    const { local, clock } = synced();
    const stamps = new StampEstimator(clock, 'auto');
    local.now = 1045;
    stamps.sent(batch(221, update(221, 1)));
    stamps.observe(frame(221, FrameType.Verified, [withX(1)]));
    // Another client's late op re-ran frame 221; the re-issued frame holds this client's change too.
    stamps.observe(frame(221, FrameType.Corrected, [withX(1), { id: 'other', typeName: 'avatar' }]));
    expect(stamps.learntMs).toBe(0);
  });

  it('[CLIENT-32] an op whose empty frame was skipped counts as late when its correction shows it', () => {
    const { local, clock } = synced();
    const stamps = new StampEstimator(clock, 'auto');
    local.now = 1045;
    expect(stamps.frame(tick, 0)).toBe(221);
    stamps.sent(batch(221, update(221, 1)));
    stamps.observe(frame(220, FrameType.Verified));
    stamps.observe(frame(222, FrameType.Verified));
    // It came two ticks after its frame (a stall of the room, say): corrected 221 arrives with tick 223. How late
    // does not matter: a stall makes every op in flight late once, and must not cost a margin for long.
    stamps.observe(frame(221, FrameType.Corrected, [withX(1)]));
    expect(stamps.learntMs).toBeCloseTo(12.5, 6);
  });

  it('[CLIENT-32] late again with the raised margin within a second: each raise doubles, then starts over', () => {
    const { local, clock } = synced();
    const stamps = new StampEstimator(clock, 'auto');
    const lateOnce = (at: number) => {
      local.now = at;
      const f = stamps.frame(tick, 0)!;
      stamps.sent(batch(f, update(f, at)));
      stamps.observe(frame(f, FrameType.Verified));
      local.now = at + 40;
      const before = stamps.learntMs;
      stamps.observe(frame(f, FrameType.Corrected, [withX(at)]));
      return stamps.learntMs - before;
    };
    expect(lateOnce(1000)).toBeCloseTo(12.5, 6);
    expect(lateOnce(1200)).toBeCloseTo(25, 6);
    expect(lateOnce(1400)).toBeCloseTo(50, 6);
    // More than a second after the last raise: a quarter tick again.
    expect(lateOnce(3000)).toBeCloseTo(12.5, 6);
  });

  it('[CLIENT-32] a FRAME_DROPPED refusal raises the margin to half the buffer window; stamps never go back', () => {
    const { local, clock } = synced();
    const stamps = new StampEstimator(clock, 'auto');
    local.now = 1045;
    expect(stamps.frame(tick, 0)).toBe(221);
    stamps.sent(batch(230, update(230, 1)));
    expect(stamps.frame(tick, 0)).toBe(230);
    stamps.dropped(20 * tick);
    expect(stamps.learntMs).toBeCloseTo(10 * tick, 6);
    expect(stamps.frame(tick, 0)).toBe(Math.floor((11_045 + 3 + 500) / tick) + 1);
    // A repeated refusal (ops sent before the first answer) does not add up.
    stamps.dropped(20 * tick);
    expect(stamps.learntMs).toBeCloseTo(10 * tick, 6);
    // A new socket forgets the stamps sent, not the margin.
    stamps.reset();
    expect(stamps.learntMs).toBeCloseTo(10 * tick, 6);
  });
});
