/**
 * What the receiver did with one message. Only `new` messages are applied. `ahead`: past a gap and not recorded
 * (only when the caller asked to hold such messages back; see `accept`).
 */
export type SequenceVerdict = 'new' | 'duplicate' | 'stale' | 'out-of-window' | 'ahead';

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
  readonly emitter: string;
  current: StampState;
  previous: StampState | undefined;
  /** When it was last heard from, on the receiver's own counter (eviction order). */
  heard: number;
  /** Listed in `changed` since the last `takeChanges` (see `trackChanges`). */
  changed: boolean;
}

/**
 * One stamp's receiving state at rest: `[stamp, contiguous, ...ahead]` (sequence numbers received out of order
 * after the contiguous point). Plain JSON, so it travels in room logs and snapshots.
 */
export type StampExport = readonly number[];

/**
 * An emitter's receiving state at rest: `[current]`, or `[current, previous]` while the stamp before the current one
 * is still honoured (compact: it is logged for every client heard from, up to 30 times a second per room).
 */
export type EmitterExport = readonly [current: StampExport, previous?: StampExport];

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
  /** Emitters whose state may have changed since the last `takeChanges`, and forgotten ones (undefined state). */
  private changed: Array<EmitterState | string> | undefined;

  constructor(options: SequenceReceiverOptions = {}) {
    this.window = options.window ?? 4096;
    this.maxRanges = options.maxRanges ?? 64;
    this.maxEmitters = options.maxEmitters ?? 10_000;
  }

  get emitterCount(): number {
    return this.emitters.size;
  }

  /**
   * Records `seq` as received. With `recordAhead` false, a message past a gap (not the next one after the
   * contiguous point) is not recorded but answered `ahead`, so the caller can hold it until the gap is filled and
   * accept it then (in order); a stamp not heard yet has no gap to hold behind and is recorded as usual.
   */
  accept(emitter: string, stamp: number, seq: number, recordAhead = true): SequenceVerdict {
    const state = this.stateFor(emitter, stamp);
    if (state === undefined) return 'stale';
    // `ahead` is empty unless messages arrived out of order: its size is checked before any lookup in it.
    const { ahead } = state;
    if (seq <= state.contiguous || (ahead.size > 0 && ahead.has(seq))) return 'duplicate';
    if (seq > state.contiguous + this.window) return 'out-of-window';
    if (!recordAhead && seq !== state.contiguous + 1 && state.contiguous > 0) return 'ahead';
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
    if (this.emitters.delete(emitter)) this.changed?.push(emitter);
  }

  /**
   * Starts recording which emitters change, for a durable log of the receiver (`takeChanges`). Off by default:
   * a receiver nobody logs pays nothing for it.
   */
  trackChanges(): void {
    this.changed ??= [];
  }

  /**
   * The state of every emitter heard from (or forgotten: `undefined`) since the last call, for a log record that,
   * applied with `restore` after the previous ones, rebuilds this receiver exactly.
   */
  takeChanges(): Array<readonly [emitter: string, state: EmitterExport | undefined]> {
    const changed = this.changed;
    if (changed === undefined || changed.length === 0) return [];
    this.changed = [];
    const out: Array<readonly [string, EmitterExport | undefined]> = [];
    for (const item of changed) {
      if (typeof item === 'string') {
        if (!this.emitters.has(item)) out.push([item, undefined]);
        continue;
      }
      item.changed = false;
      // Forgotten since (evicted or `forget`), or replaced by a new state for the same emitter: listed by name.
      if (this.emitters.get(item.emitter) === item) out.push([item.emitter, exportEmitter(item)]);
    }
    return out;
  }

  /** Every emitter's state (for a snapshot). */
  exportAll(): Array<readonly [emitter: string, state: EmitterExport]> {
    return [...this.emitters.values()].map((e) => [e.emitter, exportEmitter(e)] as const);
  }

  /**
   * Restores emitters from a snapshot's `exportAll` and log records' `takeChanges`, applied in order (undefined
   * forgets). Restored emitters count as least recently heard, in the order given.
   */
  restore(states: Iterable<readonly [emitter: string, state: EmitterExport | undefined]>): void {
    for (const [emitter, state] of states) {
      if (state === undefined) {
        this.emitters.delete(emitter);
        continue;
      }
      this.emitters.delete(emitter);
      this.emitters.set(emitter, {
        emitter,
        current: importStamp(state[0]),
        previous: state[1] === undefined ? undefined : importStamp(state[1]),
        heard: ++this.heardCount,
        changed: false,
      });
    }
    while (this.emitters.size > this.maxEmitters) this.evictLeastRecent();
  }

  /**
   * Senders increase the stamp by one and keep at most two stamps in flight (see OutboundLog), so the receiver
   * tracks the current stamp and the one before it; anything older is stale.
   */
  private stateFor(emitter: string, stamp: number): StampState | undefined {
    const e = this.emitters.get(emitter);
    if (!e) {
      const current = fresh(stamp);
      const created: EmitterState = {
        emitter,
        current,
        previous: undefined,
        heard: ++this.heardCount,
        changed: false,
      };
      this.emitters.set(emitter, created);
      this.markChanged(created);
      if (this.emitters.size > this.maxEmitters) this.evictLeastRecent();
      return current;
    }
    // A counter, not a move to the end of the map on every message: eviction is rare, hearing is not.
    e.heard = ++this.heardCount;
    if (this.changed !== undefined && !e.changed) this.markChanged(e);
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
    if (oldest !== undefined) this.forget(oldest);
  }

  private markChanged(e: EmitterState): void {
    if (this.changed === undefined) return;
    e.changed = true;
    this.changed.push(e);
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

function exportStamp(state: StampState): StampExport {
  return state.ahead.size === 0
    ? [state.stamp, state.contiguous]
    : [state.stamp, state.contiguous, ...[...state.ahead].sort((a, b) => a - b)];
}

function exportEmitter(e: EmitterState): EmitterExport {
  return e.previous === undefined
    ? [exportStamp(e.current)]
    : [exportStamp(e.current), exportStamp(e.previous)];
}

function importStamp(data: StampExport): StampState {
  const [stamp = 0, contiguous = 0, ...ahead] = data;
  let highest = contiguous;
  for (const seq of ahead) if (seq > highest) highest = seq;
  return { stamp, contiguous, ahead: new Set(ahead), highest };
}

/**
 * The ack a receiver in state `e` gives for `stamp` (what `SequenceReceiver.ack` answers), from its exported state:
 * hosts that acknowledge only what is durable keep the export of the last durable record and answer from it.
 */
export function ackOfExport(e: EmitterExport, stamp: number, maxRanges = 64): SequenceAck | undefined {
  const [current, previous] = e;
  const state = current[0] === stamp ? current : previous?.[0] === stamp ? previous : undefined;
  if (state === undefined) return undefined;
  const [, contiguous = 0, ...ahead] = state;
  const missing: Array<readonly [number, number]> = [];
  let expected = contiguous + 1;
  for (const seq of ahead) {
    if (seq > expected) {
      missing.push([expected, seq - 1]);
      if (missing.length >= maxRanges) break;
    }
    expected = seq + 1;
  }
  return { stamp, seq: contiguous, missing };
}
