import type { Patch } from '@p3/protocol';
import type { ChangeLog } from './storage/ChangeLog.js';

/** A message waiting in the outbox: it leaves once every change up to `required` is durable. */
interface Outgoing {
  readonly required: number;
  readonly deliver: () => void;
}

interface Waiter {
  readonly timestamp: number;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/**
 * A room's change log and its ordered outbox ([LOG-1]): nothing leaves the room before the state it reflects is
 * durable.
 *
 * - `append(t, patches)` appends the change at timestamp `t` (call in timestamp order) and follows it. The
 *   durable timestamp advances over a prefix of resolved appends only (even if a log resolved out of order).
 * - `post(required, deliver)` runs `deliver` once every change up to `required` (the room version when the
 *   message was produced) is durable. Messages leave in the order they were posted: one waiting message holds
 *   back every later one, even one that needs nothing new. With nothing pending, `deliver` runs at once.
 * - The first rejected append fails the outbox for good: every waiting message is dropped (nothing that depended
 *   on the change is sent), `whenDurable` rejects, and `onFailure` runs once.
 */
export class DurableOutbox {
  private durable: number;
  /** Appends not yet counted as durable, in timestamp order. */
  private readonly appending: { timestamp: number; done: boolean }[] = [];
  private readonly queue: Outgoing[] = [];
  private waiters: Waiter[] = [];
  private unsettled = 0;
  private idleWaiters: (() => void)[] = [];
  private failure: { error: unknown } | undefined;

  /**
   * @param log where changes are made durable.
   * @param durable the timestamp known durable at start (the loaded document's version).
   * @param onFailure runs once, at the first rejected append.
   * @param report receives what a delivery throws (deliveries are expected not to throw).
   */
  constructor(
    private readonly log: ChangeLog,
    durable: number,
    private readonly onFailure: (error: unknown) => void,
    private readonly report: (error: unknown, context: string) => void,
  ) {
    this.durable = durable;
  }

  /** Some tracked append has not settled yet. */
  get busy(): boolean {
    return this.unsettled > 0;
  }

  /** Appends the change at `timestamp` (call in timestamp order) and follows it until durable. */
  append(timestamp: number, documentPatches: readonly Patch[]): void {
    let append: Promise<void>;
    try {
      append = this.log.append({ timestamp, documentPatches });
    } catch (error) {
      append = Promise.reject(error);
    }
    const entry = { timestamp, done: false };
    this.appending.push(entry);
    this.unsettled++;
    append.then(
      () => {
        entry.done = true;
        this.advance();
        this.settle();
      },
      (error: unknown) => {
        this.fail(error);
        this.settle();
      },
    );
  }

  /** Runs `deliver` once every change up to `required` is durable, after every message posted before it. */
  post(required: number, deliver: () => void): void {
    if (this.failure !== undefined) return;
    if (this.queue.length === 0 && required <= this.durable) this.run(deliver);
    else this.queue.push({ required, deliver });
  }

  /** Resolves once every change up to `timestamp` is durable; rejects when the outbox failed first. */
  whenDurable(timestamp: number): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure.error);
    if (timestamp <= this.durable) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ timestamp, resolve, reject }));
  }

  /** Resolves once every tracked append settled: the queue has then left, or was dropped by a failure. */
  idle(): Promise<void> {
    if (this.unsettled === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * After a save of a snapshot at `through` ([LOG-3]): once that is durable, the log forgets what the snapshot
   * covers. A failed truncate is only reported; after a failed append nothing is truncated.
   */
  async truncate(through: number): Promise<void> {
    try {
      await this.whenDurable(through);
    } catch {
      return;
    }
    try {
      await this.log.truncate(through);
    } catch (error) {
      this.report(error, 'log truncate');
    }
  }

  private advance(): void {
    if (this.failure !== undefined) return;
    let moved = false;
    while (this.appending.length > 0 && this.appending[0]!.done) {
      this.durable = this.appending.shift()!.timestamp;
      moved = true;
    }
    if (!moved) return;
    // A delivery may post more (a listener applying a change): those join the end of the queue, in order.
    let sent = 0;
    while (sent < this.queue.length && this.queue[sent]!.required <= this.durable) {
      this.run(this.queue[sent]!.deliver);
      sent++;
    }
    this.queue.splice(0, sent);
    const ready = this.waiters.filter((w) => w.timestamp <= this.durable);
    if (ready.length === 0) return;
    this.waiters = this.waiters.filter((w) => w.timestamp > this.durable);
    for (const waiter of ready) waiter.resolve();
  }

  private fail(error: unknown): void {
    if (this.failure !== undefined) return;
    this.failure = { error };
    this.queue.length = 0;
    this.appending.length = 0;
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter.reject(error);
    this.onFailure(error);
  }

  private settle(): void {
    if (--this.unsettled > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  private run(deliver: () => void): void {
    try {
      deliver();
    } catch (error) {
      this.report(error, 'outbox delivery');
    }
  }
}
