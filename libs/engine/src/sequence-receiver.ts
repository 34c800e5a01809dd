/** What the receiver did with one message. Only `new` messages are applied. */
export type SequenceVerdict = 'new' | 'duplicate' | 'stale' | 'out-of-window';

/** Acknowledgement of one emitter's stream: everything up to `seq` arrived; `missing` lists the gaps after it. */
export interface SequenceAck {
  readonly stamp: number;
  readonly seq: number;
  readonly missing: ReadonlyArray<readonly [number, number]>;
}

interface StampState {
  readonly stamp: number;
  contiguous: number;
  readonly ahead: Set<number>;
  highest: number;
}

interface EmitterState {
  current: StampState;
  previous: StampState | undefined;
  /** When it was last heard from, on the receiver's own counter (eviction order). */
  heard: number;
}

export interface SequenceReceiverOptions {
  /** How far past the contiguous point a sequence number may be (bounds memory per emitter). Default 4096. */
  readonly window?: number;
  /** Most gap ranges reported in one ack. Default 64. */
  readonly maxRanges?: number;
  /**
   * Emitters remembered; the least recently heard is forgotten first. Default 10,000. Remembering emitters beyond
   * their session (not forgetting them when they leave) is what keeps a late resend from being applied twice.
   */
  readonly maxEmitters?: number;
}

/**
 * Seed 001 on the receiving side: sequence numbers are unique per emitter and session stamp, start at 1 and
 * grow by one. Duplicates are suppressed, gaps are reported as missing ranges, and a higher stamp starts a new
 * sequence (rollover) while the stamp just before it is still honoured for late resends.
 */
export class SequenceReceiver {
  private readonly emitters = new Map<string, EmitterState>();
  /** Counts messages: emitters remember the count when last heard, the least recent is evicted first. */
  private heardCount = 0;
  private readonly window: number;
  private readonly maxRanges: number;
  private readonly maxEmitters: number;

  constructor(options: SequenceReceiverOptions = {}) {
    this.window = options.window ?? 4096;
    this.maxRanges = options.maxRanges ?? 64;
    this.maxEmitters = options.maxEmitters ?? 10_000;
  }

  get emitterCount(): number {
    return this.emitters.size;
  }

  accept(emitter: string, stamp: number, seq: number): SequenceVerdict {
    const state = this.stateFor(emitter, stamp);
    if (state === undefined) return 'stale';
    // `ahead` is empty unless messages arrived out of order: its size is checked before any lookup in it.
    const { ahead } = state;
    if (seq <= state.contiguous || (ahead.size > 0 && ahead.has(seq))) return 'duplicate';
    if (seq > state.contiguous + this.window) return 'out-of-window';
    if (seq === state.contiguous + 1) {
      state.contiguous = seq;
      while (ahead.size > 0 && ahead.delete(state.contiguous + 1)) state.contiguous++;
    } else {
      state.ahead.add(seq);
    }
    if (seq > state.highest) state.highest = seq;
    return 'new';
  }

  /** Highest contiguous sequence number received for (emitter, stamp); 0 when none or another stamp. */
  lastSeq(emitter: string, stamp: number): number {
    const e = this.emitters.get(emitter);
    if (e?.current.stamp === stamp) return e.current.contiguous;
    if (e?.previous?.stamp === stamp) return e.previous.contiguous;
    return 0;
  }

  ack(emitter: string, stamp?: number): SequenceAck | undefined {
    const e = this.emitters.get(emitter);
    if (!e) return undefined;
    const state =
      stamp === undefined || e.current.stamp === stamp
        ? e.current
        : e.previous?.stamp === stamp
          ? e.previous
          : undefined;
    if (!state) return undefined;
    return { stamp: state.stamp, seq: state.contiguous, missing: this.missing(state) };
  }

  forget(emitter: string): void {
    this.emitters.delete(emitter);
  }

  /**
   * Senders increase the stamp by one and keep at most two stamps in flight (see OutboundLog), so the receiver
   * tracks the current stamp and the one before it; anything older is stale.
   */
  private stateFor(emitter: string, stamp: number): StampState | undefined {
    const e = this.emitters.get(emitter);
    if (!e) {
      const current = fresh(stamp);
      this.emitters.set(emitter, { current, previous: undefined, heard: ++this.heardCount });
      if (this.emitters.size > this.maxEmitters) this.evictLeastRecent();
      return current;
    }
    // A counter, not a move to the end of the map on every message: eviction is rare, hearing is not.
    e.heard = ++this.heardCount;
    if (stamp === e.current.stamp) return e.current;
    if (stamp > e.current.stamp) {
      e.previous = e.current.stamp === stamp - 1 ? e.current : fresh(stamp - 1);
      e.current = fresh(stamp);
      return e.current;
    }
    if (stamp !== e.current.stamp - 1) return undefined;
    if (e.previous?.stamp !== stamp) e.previous = fresh(stamp);
    return e.previous;
  }

  /** A scan, run only when a new emitter goes past `maxEmitters`. */
  private evictLeastRecent(): void {
    let oldest: string | undefined;
    let oldestHeard = Infinity;
    for (const [emitter, e] of this.emitters) {
      if (e.heard < oldestHeard) {
        oldestHeard = e.heard;
        oldest = emitter;
      }
    }
    if (oldest !== undefined) this.emitters.delete(oldest);
  }

  private missing(state: StampState): Array<readonly [number, number]> {
    const ranges: Array<readonly [number, number]> = [];
    if (state.ahead.size === 0) return ranges;
    const ahead = [...state.ahead].sort((a, b) => a - b);
    let expected = state.contiguous + 1;
    for (const seq of ahead) {
      if (seq > expected) {
        ranges.push([expected, seq - 1]);
        if (ranges.length >= this.maxRanges) break;
      }
      expected = seq + 1;
    }
    return ranges;
  }
}

function fresh(stamp: number): StampState {
  return { stamp, contiguous: 0, ahead: new Set(), highest: 0 };
}
