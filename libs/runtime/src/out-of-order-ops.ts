/**
 * Ops of one client that arrived ahead of a gap in its sequence numbers, held until the gap is filled so the room
 * applies a client's ops in the order it sent them. In one process a socket never reorders, but across the cluster a
 * lost bus message does: an op whose predecessor was lost arrives first, the predecessor comes back as a resend
 * (reported `missing` in an ack), and applied then it would overwrite the newer op (a later input reverted by an
 * earlier one). Held ops are not in the sequence receiver, so they are neither acknowledged nor logged: a client
 * whose room moves while they are held resends them like any unacknowledged op.
 */
export class OutOfOrderOps<T> {
  private stamp = 0;
  private readonly held = new Map<number, T>();
  private highest = 0;

  constructor(
    /** Most ops held per client; beyond it ops are applied as they come (ordering is best effort then). */
    private readonly limit = 1024,
  ) {}

  get size(): number {
    return this.held.size;
  }

  /**
   * Holds `op` when it runs ahead of `next` (the next sequence number the receiver expects for `stamp`) and there is
   * room; false: apply it now. `next` of 1 is a stamp the receiver has not heard yet: nothing to order against.
   */
  hold(stamp: number, seq: number, next: number, op: T): boolean {
    if (seq <= next || next <= 1 || seq - next > this.limit) return false;
    if (this.held.size > 0 && stamp !== this.stamp) return false;
    if (this.held.size >= this.limit && !this.held.has(seq)) return false;
    this.stamp = stamp;
    this.held.set(seq, op);
    if (seq > this.highest) this.highest = seq;
    return true;
  }

  /** The op held for `stamp`/`seq`, removed; undefined when none is. */
  take(stamp: number, seq: number): T | undefined {
    if (this.held.size === 0 || stamp !== this.stamp) return undefined;
    const op = this.held.get(seq);
    if (op !== undefined) this.held.delete(seq);
    if (this.held.size === 0) this.highest = 0;
    return op;
  }

  /**
   * The sequence numbers between `contiguous` (what the receiver has) and the highest held one that are neither
   * received nor held: what the client must resend before the held ops can be applied.
   */
  missing(stamp: number, contiguous: number, maxRanges = 64): Array<readonly [number, number]> {
    if (this.held.size === 0 || stamp !== this.stamp) return [];
    const ranges: Array<readonly [number, number]> = [];
    let from = contiguous + 1;
    for (let seq = contiguous + 1; seq <= this.highest && ranges.length < maxRanges; seq++) {
      if (!this.held.has(seq)) continue;
      if (seq > from) ranges.push([from, seq - 1]);
      from = seq + 1;
    }
    return ranges;
  }

  clear(): void {
    this.held.clear();
    this.highest = 0;
  }
}
