/**
 * The last `capacity` ops remembered, found by (stamp, seq): a ring, so remembering one (every op a client writes)
 * allocates nothing and drops the oldest in place. Finding one (a rejection, rare) scans from the newest.
 */
export class RecentOps<T> {
  private readonly stamps: Float64Array;
  private readonly seqs: Float64Array;
  private readonly items: Array<T | undefined>;
  private next = 0;

  constructor(private readonly capacity: number) {
    this.stamps = new Float64Array(capacity);
    this.seqs = new Float64Array(capacity);
    this.items = new Array<T | undefined>(capacity).fill(undefined);
  }

  remember(stamp: number, seq: number, item: T): void {
    const i = this.next;
    this.stamps[i] = stamp;
    this.seqs[i] = seq;
    this.items[i] = item;
    this.next = i + 1 === this.capacity ? 0 : i + 1;
  }

  /** The item remembered last for (stamp, seq), while it is among the last `capacity`. */
  find(stamp: number, seq: number): T | undefined {
    for (let k = 1; k <= this.capacity; k++) {
      const i = (this.next - k + this.capacity) % this.capacity;
      const item = this.items[i];
      if (item === undefined) return undefined;
      if (this.stamps[i] === stamp && this.seqs[i] === seq) return item;
    }
    return undefined;
  }
}
