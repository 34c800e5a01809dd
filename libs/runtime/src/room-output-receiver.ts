import type { Logger } from 'pino';
import { roomOutput, type Bus, type BusSubscription } from './ports/bus.js';
import {
  comparePositions,
  START_POSITION,
  type BufferPosition,
  type BufferedRange,
  type FrameBuffer,
} from './ports/frame-buffer.js';
import type { Cancel, Scheduler } from './ports/scheduler.js';
import type { RoomKey } from './ports/snapshot-store.js';
import { decodeEnvelope, type RoomOutputEnvelope } from './room-output-envelope.js';

/** A hole in what a receiver delivered: messages after `after` and before `resumedAt` are lost to it. */
export interface RoomOutputGap {
  /** The last position delivered before the hole (the receiver's start position if none). */
  readonly after: BufferPosition;
  /** The first position delivered after the hole. */
  readonly resumedAt: BufferPosition;
}

/** What a receiver did with the messages it heard, for metrics and tests. */
export interface RoomOutputReceiverCounters {
  /** Messages handed to `onMessage` (from the bus or the buffer). */
  readonly delivered: number;
  /** Bus messages at or before the last delivered position, of its epoch (delivered already). */
  readonly duplicates: number;
  /** Bus messages of an epoch older than the last delivered one (a deposed owner's stragglers). */
  readonly staleDropped: number;
  /** Messages delivered from the frame buffer instead of the bus. */
  readonly repaired: number;
  /** Holes reported to `onUnrepairable`. */
  readonly unrepairable: number;
  /** Bus messages that were not envelopes (dropped, logged). */
  readonly malformed: number;
}

export interface RoomOutputReceiverOptions {
  readonly bus: Bus;
  readonly buffer: FrameBuffer;
  readonly key: RoomKey;
  /** Drives the gap timeout and the retry delay. */
  readonly scheduler: Scheduler;
  /** Each message of the room, exactly once, in (epoch, seq) order. A throw is logged and delivery goes on. */
  readonly onMessage: (message: RoomOutputEnvelope) => void;
  /**
   * A hole the buffer cannot fill (trimmed, lost, or unreachable for `gapTimeoutMs`). The receiver goes on from
   * `resumedAt`; the gateway sends its members of the room a resync (a catch-up from a snapshot).
   */
  readonly onUnrepairable: (gap: RoomOutputGap) => void;
  /** How long one gap may stay open while the buffer does not answer. Default 1000 ms. */
  readonly gapTimeoutMs?: number;
  /** Wait before asking a failing buffer again. Default 100 ms. */
  readonly retryDelayMs?: number;
  /** Entries asked per `range` call. Default 256. */
  readonly pageSize?: number;
  readonly logger?: Pick<Logger, 'warn' | 'error'>;
}

type Fetched = 'filled' | 'timeout' | 'lost' | 'stopped';

/**
 * The gateway side of a room's output, one per room the gateway serves. It is subscribed to `roomOutput(key)` only
 * between `start` and `stop`, and hands each message to `onMessage` exactly once, in (epoch, seq) order:
 *
 * - a message right after the last delivered one (same epoch, next seq) is delivered at once;
 * - anything else after it (a seq jump, or any message of a newer epoch: the old owner's tail may still be due) is
 *   held, and the gap is filled from `FrameBuffer.range(key, last)`. The owner appends before it publishes, so the
 *   buffer has every message up to the held one unless capacity trimmed it;
 * - a hole the buffer cannot fill is reported to `onUnrepairable`, and delivery goes on from what the receiver has
 *   (what it holds and what the buffer kept), never waiting forever and never skipping silently;
 * - duplicates and older epochs' stragglers are dropped.
 *
 * A lost message is noticed when a later one arrives; a lost last message of a quiet room stays unnoticed until
 * the room sends again.
 *
 * @example
 * const receiver = new RoomOutputReceiver({ bus, buffer, key, scheduler, onMessage: fanOut, onUnrepairable: resync });
 * await receiver.start((await buffer.latest(key)) ?? START_POSITION);
 */
export class RoomOutputReceiver {
  private last: BufferPosition = { epoch: 0, seq: 0 };
  // Messages heard past a gap, keyed by position; few (what arrives during one repair), so sorted when read.
  private readonly held = new Map<string, RoomOutputEnvelope>();
  private subscription: BusSubscription | null = null;
  // Bumped by start and stop: async work of an earlier run sees the change and ends.
  private run = 0;
  private repairing = false;
  private readonly counts = {
    delivered: 0,
    duplicates: 0,
    staleDropped: 0,
    repaired: 0,
    unrepairable: 0,
    malformed: 0,
  };

  constructor(private readonly options: RoomOutputReceiverOptions) {}

  get counters(): RoomOutputReceiverCounters {
    return { ...this.counts };
  }

  /** The last position delivered (or the start position). */
  get position(): BufferPosition {
    return this.last;
  }

  get started(): boolean {
    return this.subscription !== null;
  }

  /**
   * Starts after the room's latest buffered position (what a gateway that begins serving the room starts from) and
   * returns it (null: nothing buffered). Rejects when the buffer cannot be read (Redis away).
   */
  async startAtLatest(): Promise<BufferPosition | null> {
    const latest = await this.options.buffer.latest(this.options.key);
    await this.start(latest ?? START_POSITION);
    return latest;
  }

  /**
   * Subscribes and delivers every message after `after`: a gateway starts after what its members already have
   * (e.g. `buffer.latest(key)` when it begins serving the room, or the position of the snapshot it sent them).
   * `{ epoch: E, seq: 0 }` means "from the first message of epoch E". Resolves when the subscription is live.
   */
  async start(after: BufferPosition): Promise<void> {
    if (this.subscription !== null) throw new Error('RoomOutputReceiver already started');
    const run = ++this.run;
    this.last = { epoch: after.epoch, seq: after.seq };
    this.held.clear();
    this.repairing = false;
    this.subscription = this.options.bus.subscribe(roomOutput(this.options.key), (bytes) => {
      if (run === this.run) this.receive(bytes);
    });
    await this.options.bus.flush();
  }

  /** Unsubscribes; no `onMessage` or `onUnrepairable` call happens after it returns. */
  stop(): void {
    this.run++;
    this.subscription?.unsubscribe();
    this.subscription = null;
    this.held.clear();
  }

  private receive(bytes: Uint8Array): void {
    const decoded = decodeEnvelope(bytes);
    if (!decoded.ok) {
      this.counts.malformed++;
      this.options.logger?.warn(
        { code: decoded.code, key: this.options.key },
        'room output: malformed envelope',
      );
      return;
    }
    const message = decoded.envelope;
    if (comparePositions(message, this.last) <= 0) {
      if (message.epoch < this.last.epoch) this.counts.staleDropped++;
      else this.counts.duplicates++;
      return;
    }
    if (!this.repairing && isSuccessor(message, this.last)) {
      this.deliver(message, false);
      return;
    }
    const id = positionId(message);
    if (this.held.has(id)) {
      this.counts.duplicates++;
      return;
    }
    this.held.set(id, message);
    if (!this.repairing) void this.repair(this.run);
  }

  private async repair(run: number): Promise<void> {
    this.repairing = true;
    try {
      for (;;) {
        this.drainHeld();
        if (this.held.size === 0) return;
        const fetched = await this.fetch(run);
        if (fetched === 'stopped' || run !== this.run) return;
        if (fetched === 'timeout' || fetched === 'lost') this.deliverWhatIsHeld();
      }
    } catch (error) {
      // Only a bug gets here (the buffer's failures are caught in fetch); never leave the room stuck behind it.
      this.options.logger?.error({ err: error, key: this.options.key }, 'room output: repair failed');
      if (run === this.run) this.deliverWhatIsHeld();
    } finally {
      if (run === this.run) this.repairing = false;
    }
  }

  /** Asks the buffer until the first held message follows what was delivered, or the gap times out. */
  private async fetch(run: number): Promise<Fetched> {
    const { buffer, key, scheduler } = this.options;
    let cancelTimeout: Cancel = () => undefined;
    let cancelRetry: Cancel = () => undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      cancelTimeout = scheduler.after(this.options.gapTimeoutMs ?? 1000, () => resolve('timeout'));
    });
    try {
      for (;;) {
        const first = this.firstHeld();
        if (first === undefined || comparePositions(first, this.last) <= 0 || isSuccessor(first, this.last))
          return 'filled';
        const answer = await Promise.race([
          buffer.range(key, this.last, this.options.pageSize ?? 256).then(
            (range) => ({ range }),
            (error: unknown) => ({ error }),
          ),
          timeout,
        ]);
        if (run !== this.run) return 'stopped';
        if (answer === 'timeout') return 'timeout';
        if ('error' in answer) {
          this.options.logger?.warn({ err: answer.error, key }, 'room output: frame buffer range failed');
          const retry = new Promise<'retry'>((resolve) => {
            cancelRetry = scheduler.after(this.options.retryDelayMs ?? 100, () => resolve('retry'));
          });
          const waited = await Promise.race([retry, timeout]);
          cancelRetry();
          if (run !== this.run) return 'stopped';
          if (waited === 'timeout') return 'timeout';
          continue;
        }
        // Complete and empty: the buffer lost what it had (a restart, a clear) though a later message was heard.
        if (answer.range.complete && answer.range.entries.length === 0) return 'lost';
        this.apply(answer.range);
      }
    } finally {
      cancelTimeout();
      cancelRetry();
    }
  }

  private apply({ entries, complete }: BufferedRange): void {
    if (!complete) {
      // A hole right after `last`: go on from the earliest message there is, held or kept. Only one held message
      // is taken, then the buffer is asked again from it, since only the buffer knows whether a hole follows it.
      const held = this.firstHeld();
      const kept = entries[0];
      const next =
        kept === undefined || (held !== undefined && comparePositions(held, kept) < 0) ? held : kept;
      if (next === undefined) return;
      this.reportHole(next);
      if (next === held) {
        this.held.delete(positionId(held));
        this.deliver(held, false);
        return;
      }
    }
    for (const entry of entries) if (comparePositions(entry, this.last) > 0) this.deliver(entry, true);
  }

  /** Delivers held messages that follow on, and forgets those the buffer delivered already. */
  private drainHeld(): void {
    for (const message of this.sortedHeld()) {
      if (comparePositions(message, this.last) <= 0) this.held.delete(positionId(message));
      else if (isSuccessor(message, this.last)) {
        this.held.delete(positionId(message));
        this.deliver(message, false);
      } else return;
    }
  }

  /** The buffer could not help: deliver everything held, reporting each hole before it. */
  private deliverWhatIsHeld(): void {
    const held = this.sortedHeld();
    this.held.clear();
    for (const message of held) {
      if (comparePositions(message, this.last) <= 0) continue;
      // At an epoch change this may report a hole that was none (the old owner's output had ended): a resync too
      // many is harmless, a missed one is not.
      if (!isSuccessor(message, this.last)) this.reportHole(message);
      this.deliver(message, false);
    }
  }

  private reportHole(resumedAt: BufferPosition): void {
    if (this.subscription === null) return;
    this.counts.unrepairable++;
    const gap = { after: this.last, resumedAt: { epoch: resumedAt.epoch, seq: resumedAt.seq } };
    try {
      this.options.onUnrepairable(gap);
    } catch (error) {
      this.options.logger?.error({ err: error, key: this.options.key }, 'room output: onUnrepairable threw');
    }
  }

  private deliver(message: RoomOutputEnvelope, fromBuffer: boolean): void {
    if (this.subscription === null) return;
    this.last = { epoch: message.epoch, seq: message.seq };
    this.counts.delivered++;
    if (fromBuffer) this.counts.repaired++;
    try {
      this.options.onMessage(message);
    } catch (error) {
      this.options.logger?.error({ err: error, key: this.options.key }, 'room output: onMessage threw');
    }
  }

  private firstHeld(): RoomOutputEnvelope | undefined {
    return this.sortedHeld()[0];
  }

  private sortedHeld(): RoomOutputEnvelope[] {
    return [...this.held.values()].sort(comparePositions);
  }
}

/** The one message that can follow `last` without asking the buffer: the next seq of the same epoch. */
function isSuccessor(message: BufferPosition, last: BufferPosition): boolean {
  return message.epoch === last.epoch && message.seq === last.seq + 1;
}

const positionId = (position: BufferPosition): string => `${position.epoch}:${position.seq}`;
