export interface Sequenced<T> {
  readonly stamp: number;
  readonly seq: number;
  readonly payload: T;
}

export interface OutboundLogOptions {
  /** First session stamp. Default 1. */
  readonly stamp?: number;
  /**
   * Sequence number after which the log rolls over to the next stamp. Soft: the rollover waits until the previous
   * stamp is fully acknowledged, so at most two stamps are ever in flight (a receiver remembers two). Default 2^30,
   * leaving headroom below the protocol's hard limit of 2^31 - 1.
   */
  readonly maxSeq?: number;
}

/**
 * Seed 001 on the sending side: numbers what an emitter sends, keeps it until acknowledged, answers an ack's
 * missing ranges with what to resend, and rolls over to a new session stamp when sequence numbers run out.
 * The history is flushed as acks arrive, so it holds only what the receiver has not confirmed.
 */
export class OutboundLog<T> {
  private currentStamp: number;
  private nextSeq = 1;
  private readonly maxSeq: number;
  private readonly pending: Array<Sequenced<T>> = [];

  constructor(options: OutboundLogOptions = {}) {
    this.currentStamp = options.stamp ?? 1;
    this.maxSeq = options.maxSeq ?? 2 ** 30;
  }

  get stamp(): number {
    return this.currentStamp;
  }

  /** Sequence number the next `push` will get. */
  get next(): { stamp: number; seq: number } {
    return this.canRollOver()
      ? { stamp: this.currentStamp + 1, seq: 1 }
      : { stamp: this.currentStamp, seq: this.nextSeq };
  }

  get size(): number {
    return this.pending.length;
  }

  push(payload: T): Sequenced<T> {
    if (this.canRollOver()) {
      this.currentStamp++;
      this.nextSeq = 1;
    }
    const entry = { stamp: this.currentStamp, seq: this.nextSeq++, payload };
    this.pending.push(entry);
    return entry;
  }

  /** Applies an ack: drops the entries of `stamp` up to `seq` and returns the entries in `missing` to resend. */
  ack(
    stamp: number,
    seq: number,
    missing: ReadonlyArray<readonly [number, number]> = [],
  ): Array<Sequenced<T>> {
    for (let i = this.pending.length - 1; i >= 0; i--) {
      const entry = this.pending[i]!;
      if (entry.stamp === stamp && entry.seq <= seq) this.pending.splice(i, 1);
    }
    if (missing.length === 0) return [];
    return this.pending.filter(
      (e) => e.stamp === stamp && missing.some(([from, to]) => e.seq >= from && e.seq <= to),
    );
  }

  private canRollOver(): boolean {
    return this.nextSeq > this.maxSeq && !this.pending.some((e) => e.stamp < this.currentStamp);
  }

  /** Removes one entry (e.g. an op the receiver refused for good): it is not resent. */
  drop(stamp: number, seq: number): boolean {
    const index = this.pending.findIndex((e) => e.stamp === stamp && e.seq === seq);
    if (index < 0) return false;
    this.pending.splice(index, 1);
    return true;
  }

  /** Everything not yet acknowledged, oldest first (resend after a reconnect). */
  unacknowledged(): ReadonlyArray<Sequenced<T>> {
    return this.pending;
  }

  /** Restores pending entries (e.g. a persisted offline queue) and continues numbering after them. */
  restore(entries: ReadonlyArray<Sequenced<T>>, next: { stamp: number; seq: number }): void {
    this.pending.splice(0, this.pending.length, ...entries);
    this.currentStamp = next.stamp;
    this.nextSeq = next.seq;
  }
}
