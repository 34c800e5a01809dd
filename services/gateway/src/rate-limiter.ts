import type { Clock } from '@p3/runtime';

/**
 * Token bucket: `rate` tokens per second on average, bursts up to `burst`. A token is a message (message rate) or
 * a byte (byte rate: `take(bytes)`).
 *
 * @example
 * const bytes = new TokenBucket(systemClock, 256 * 1024, 1024 * 1024);
 * if (!bytes.take(message.byteLength)) drop(message);
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly clock: Clock,
    private readonly rate: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
    this.last = clock.now();
  }

  /**
   * Takes `cost` tokens (default one); false, taking nothing, when fewer are left (the message must be dropped).
   * `now`: the clock's time when the caller already read it (several buckets checked for one message).
   */
  take(cost = 1, now = this.clock.now()): boolean {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.rate) / 1000);
    this.last = now;
    if (this.tokens < cost) return false;
    this.tokens -= cost;
    return true;
  }

  /** Gives back tokens taken for something that was then refused by another limit. */
  refund(cost: number): void {
    this.tokens = Math.min(this.burst, this.tokens + cost);
  }
}
