import type { ChangeLog, LoggedChange } from '../../src/index.js';

interface PendingAppend {
  readonly change: LoggedChange;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/**
 * A change log the test drives by hand: appends wait in `pending` until `release` makes them durable (in order) or
 * `failOldest` rejects one. With `auto`, every append is durable at once. `durable` is what a crash keeps.
 */
export class ControlledLog implements ChangeLog {
  /** Durable changes not truncated, oldest first. */
  readonly durable: LoggedChange[];
  /** Every change ever made durable, oldest first (truncation does not touch it). */
  readonly history: LoggedChange[] = [];
  readonly pending: PendingAppend[] = [];
  readonly truncations: number[] = [];
  failTruncate = false;

  constructor(private readonly options: { auto?: boolean; durable?: readonly LoggedChange[] } = {}) {
    this.durable = structuredClone([...(options.durable ?? [])]);
  }

  append(change: LoggedChange): Promise<void> {
    // Copy now: what the room appended must not change afterwards.
    const copy = structuredClone(change);
    if (this.options.auto === true) {
      this.keep(copy);
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => this.pending.push({ change: copy, resolve, reject }));
  }

  read(after: number): Promise<LoggedChange[]> {
    return Promise.resolve(structuredClone(this.durable.filter((c) => c.timestamp > after)));
  }

  truncate(through: number): Promise<void> {
    if (this.failTruncate) return Promise.reject(new Error('truncate failed'));
    this.truncations.push(through);
    this.durable.splice(0, this.durable.filter((c) => c.timestamp <= through).length);
    return Promise.resolve();
  }

  /** Makes the oldest `count` pending appends durable, in order. */
  release(count = this.pending.length): void {
    for (const append of this.pending.splice(0, count)) {
      this.keep(append.change);
      append.resolve();
    }
  }

  /** Rejects the oldest pending append (it is not kept). */
  failOldest(error: unknown = new Error('disk gone')): void {
    this.pending.shift()?.reject(error);
  }

  /** Timestamps of the pending appends. */
  pendingTimestamps(): number[] {
    return this.pending.map((p) => p.change.timestamp);
  }

  private keep(change: LoggedChange): void {
    this.durable.push(change);
    this.history.push(change);
  }
}

/** Lets promise callbacks run (the outbox advances in them); not a timer. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
