import { FrameType, type Frame, type OpsMessage } from '@p3/protocol';
import type { ClockSync } from './clock-sync.js';

/**
 * `inputDelayFrames`: a fixed delay in frames; `'auto'`: stamped for the frame the room will be at when the op
 * arrives; `'arrival'`: unstamped, the room places it there (the client estimates that frame as `'auto'` does).
 */
export type InputDelay = number | 'auto' | 'arrival';

/** Added to every adaptive lead (ms): encoding, the room's turn to read the socket, timer granularity. */
const baseMarginMs = 1;
/** The least a late op raises the learnt margin by (ms); a quarter tick when that is more. */
const minLateStepMs = 2;
/** A late op within this long of the previous raise doubles the next raise (see `late`), up to 2^maxStreak. */
const lateStreakMs = 1000;
const maxStreak = 4;
/** The learnt margin halves every this many ms without late ops, so a passing spike is not paid for long. */
const learntHalfLifeMs = 20_000;
const maxLearntMs = 1000;
/** A sent op whose frame passed without it waits this many frames for the correction that would show it late. */
const suspectFrames = 64;
const maxTracked = 256;

interface Tracked {
  readonly frame: number;
  readonly entityId: string;
  readonly kind: 'create' | 'update' | 'input';
  /** For an update: one field it writes (its change shows in the frame that applies it). */
  readonly field: string;
  readonly sentAt: number;
  /** Its frame arrived (or was passed) without it: a `corrected` frame that shows it means it came late. */
  missed: boolean;
}

/**
 * Chooses the frame an op sent now is stamped for. A fixed `inputDelayFrames` stamps (estimated server frame +
 * delay). `'auto'` stamps the first frame the room simulates after the op arrives: the room's time when it gets
 * there is clock sync's estimate of the room's time now + half the best round trip (the best sample's own trip up,
 * whatever the asymmetry) + a margin. The margin is what the client learns: the mean spread of its pings' trips to
 * the room (jitter that pings see), plus what its own late ops taught it: an op stamped for frame K whose frame K
 * came without it and whose `corrected` frame K then shows it arrived after the room simulated K (a quarter tick,
 * doubled while late ops keep coming within a second of each raise), and a `FRAME_DROPPED` refusal means it arrived
 * more than the buffer window late (to half the window). Late ops sent before the last raise do not raise it
 * again. The learnt margin halves every 20 s, so a passing spike is not paid for long. Stamps never go back: ops
 * applied out of order would undo each other.
 *
 * @example
 * const stamps = new StampEstimator(clock, 'auto');
 * const frame = stamps.frame(1000 / 30, replica.frame + 1); // undefined before clock sync
 * stamps.sent(batch); stamps.observe(frame); // learn from what the room did with them
 */
export class StampEstimator {
  private tracked: Tracked[] = [];
  /** Highest frame stamped on this socket. */
  private lastStamp = -1;
  private learnt = 0;
  private learntAt = 0;
  /** The clock's arrival estimate when the margin was learnt: what it catches up with later is no longer needed. */
  private learntArrival = 0;
  private raisedAt = -Infinity;
  /** Raises in a row, each within `lateStreakMs` of the one before. */
  private streak = 0;
  private tickInterval = 1000 / 30;

  constructor(
    private readonly clock: ClockSync,
    private readonly delay: InputDelay,
  ) {}

  /** Margin learnt from late ops (ms), as it stands now. */
  get learntMs(): number {
    return this.learnt === 0 ? 0 : this.learntNow(this.clock.now());
  }

  /**
   * The frame an op sent now is stamped for; undefined before clock sync. `next` is the first frame the client
   * knows the room has not simulated (the one after its latest authoritative frame): never less.
   */
  frame(tickInterval: number, next: number): number | undefined {
    this.tickInterval = tickInterval;
    let frame: number;
    if (this.delay === 'auto' || this.delay === 'arrival') {
      const time = this.clock.serverTime();
      if (time === undefined) return undefined;
      const lead = (this.clock.rtt ?? 0) / 2 + (this.clock.arrivalSpread ?? 0) + baseMarginMs + this.learntMs;
      frame = Math.floor((time + lead) / tickInterval) + 1;
    } else {
      const now = this.clock.serverFrame(tickInterval);
      if (now === undefined) return undefined;
      frame = now + this.delay;
    }
    return Math.max(1, next, frame, this.lastStamp);
  }

  /** A batch went out (its ops stamped, `through` its send frame): remembered to tell later whether it came late. */
  sent(batch: OpsMessage): void {
    const at = batch.through;
    if (at === undefined) return;
    if (at > this.lastStamp) this.lastStamp = at;
    if (this.delay !== 'auto') return;
    const sentAt = this.clock.now();
    for (const op of batch.ops) {
      if (op.frame === undefined) continue;
      let field: string | undefined;
      if (op.op === 'update') {
        for (const name in op.data) {
          field = name;
          break;
        }
        if (field === undefined) continue;
      } else if (op.op !== 'create' && op.op !== 'input') continue;
      this.tracked.push({
        frame: op.frame,
        entityId: op.entityId,
        kind: op.op,
        field: field ?? '',
        sentAt,
        missed: false,
      });
    }
    if (this.tracked.length > maxTracked) this.tracked.splice(0, this.tracked.length - maxTracked);
  }

  /** A frame arrived (in order, before it is applied): judges the sent ops stamped for it. */
  observe(frame: Frame): void {
    const corrected = frame.type === FrameType.Corrected;
    const tracked = this.tracked;
    if (tracked.length === 0) return;
    let kept = 0;
    for (let i = 0; i < tracked.length; i++) {
      const t = tracked[i]!;
      let keep = true;
      if (t.frame === frame.id) {
        if (corrected) {
          // Shown only by the correction: the room simulated the frame before the op came, then re-ran it.
          if (shows(frame, t)) {
            this.late(t);
            keep = false;
          }
        } else if (shows(frame, t)) keep = false;
        else t.missed = true;
      } else if (t.frame < frame.id && !corrected) {
        // Its frame was not sent (nothing changed in it) or was skipped by a catch-up.
        t.missed = true;
        keep = t.frame >= frame.id - suspectFrames;
      }
      if (keep) tracked[kept++] = t;
    }
    tracked.length = kept;
  }

  /**
   * The room refused one of this client's ops as older than its buffer window (`windowMs`): FRAME_DROPPED. The
   * clock estimate is off by more than jitter (clock sync catches up within a few pings): half a window at once
   * turns the next ops' refusals into corrections, which then tell how late they still are.
   */
  dropped(windowMs: number): void {
    const now = this.clock.now();
    this.learn(now, Math.max(this.learntNow(now), windowMs / 2));
  }

  /** A new socket: what was sent on the last one is not judged; the margin learnt stays (and keeps decaying). */
  reset(): void {
    this.tracked = [];
    this.lastStamp = -1;
  }

  private late(t: Tracked): void {
    // Sent with the margin before the last raise: that raise already answered it.
    if (t.sentAt < this.raisedAt) return;
    const now = this.clock.now();
    // A quarter tick, doubled for each raise that follows the last within a second (late again with the raised
    // margin: the link is slower than the pings say, not one spike). How late it came is no guide: a stall of the
    // room (or of this process) makes every op in flight late by its length, once.
    this.streak = now - this.raisedAt < lateStreakMs ? Math.min(this.streak + 1, maxStreak) : 0;
    this.learn(now, this.learntNow(now) + this.lateStep() * 2 ** this.streak);
  }

  private learn(now: number, margin: number): void {
    this.learnt = Math.min(maxLearntMs, margin);
    this.learntAt = now;
    this.learntArrival = this.arrival();
    this.raisedAt = now;
  }

  private learntNow(now: number): number {
    if (this.learnt === 0) return 0;
    const decayed = this.learnt * 2 ** (-(now - this.learntAt) / learntHalfLifeMs);
    // A later clock estimate that puts arrivals later (the latency rose, and pings now see it) covers that much.
    return Math.max(0, decayed - Math.max(0, this.arrival() - this.learntArrival));
  }

  private lateStep(): number {
    return Math.max(minLateStepMs, this.tickInterval / 4);
  }

  /** Room time minus local time at which a message sent now arrives, by the best sample (ms). */
  private arrival(): number {
    return (this.clock.offset ?? 0) + (this.clock.rtt ?? 0) / 2;
  }
}

/** Whether the frame's changes show the op: its entity created, its input changed, or the field it wrote. */
function shows(frame: Frame, t: Tracked): boolean {
  const entities = frame.entities;
  for (let i = 0; i < entities.length; i++) {
    const e = entities[i]!;
    if (e.id !== t.entityId) continue;
    if (t.kind === 'create') return e.created === true;
    if (t.kind === 'input') return e.input !== undefined;
    return e.fields?.[t.field] !== undefined;
  }
  return false;
}
