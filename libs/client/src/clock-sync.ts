/** A monotonic clock in ms (`performance.now()` by default). Never the wall clock: time zones and NTP jumps do not exist here. */
export interface MonotonicClock {
  now(): number;
}

export const performanceClock: MonotonicClock = { now: () => performance.now() };

interface Sample {
  readonly rtt: number;
  readonly offset: number;
}

/**
 * Estimates the room's clock from ping/pong samples. For one sample, `offset = serverTime + rtt/2 - receiveTime`
 * (the server answered half a round trip ago); the last `maxSamples` are kept and the one with the lowest RTT
 * wins, since queueing delays only ever add to a round trip and skew its midpoint.
 *
 * @example
 * const clock = new ClockSync(performanceClock);
 * clock.addSample(pong.clientTime, pong.serverTime, performance.now());
 * clock.serverFrame(50); // floor((now + offset) / tickInterval)
 */
export class ClockSync {
  private samples: Sample[] = [];
  private best: Sample | undefined;
  private spread: number | undefined;

  constructor(
    private readonly clock: MonotonicClock,
    private readonly maxSamples = 8,
  ) {}

  get synced(): boolean {
    return this.best !== undefined;
  }

  /** Lowest round trip time among the kept samples (ms); undefined before the first sample. */
  get rtt(): number | undefined {
    return this.best?.rtt;
  }

  /** Round trip of the latest sample (ms); undefined before the first one. */
  get lastRtt(): number | undefined {
    return this.samples[this.samples.length - 1]?.rtt;
  }

  get offset(): number | undefined {
    return this.best?.offset;
  }

  get sampleCount(): number {
    return this.samples.length;
  }

  /**
   * How much later than the best sample the kept samples' pings reached the room, on average (ms, >= 0): the mean
   * of `serverTime - sentAt` over the kept samples minus the best sample's. The jitter of the way up, as the
   * stamp estimator sees it (stamp-estimator.ts); undefined before the first sample.
   */
  get arrivalSpread(): number | undefined {
    return this.spread;
  }

  /** Adds one sample: `sentAt` and `receivedAt` on the local clock, `serverTime` the room time in between. */
  addSample(sentAt: number, serverTime: number, receivedAt: number): void {
    const rtt = receivedAt - sentAt;
    if (!Number.isFinite(rtt) || rtt < 0 || !Number.isFinite(serverTime)) return;
    this.samples.push({ rtt, offset: serverTime + rtt / 2 - receivedAt });
    if (this.samples.length > this.maxSamples) this.samples.shift();
    const best = this.samples.reduce((a, b) => (b.rtt < a.rtt ? b : a));
    this.best = best;
    // Kept, not computed per read: the stamp estimator reads it for every batch the client sends.
    let sum = 0;
    for (const s of this.samples) sum += s.offset + s.rtt / 2;
    this.spread = Math.max(0, sum / this.samples.length - (best.offset + best.rtt / 2));
  }

  /** The local monotonic clock (ms). */
  now(): number {
    return this.clock.now();
  }

  /** Forgets every sample (a new connection may reach a room whose clock restarted). */
  reset(): void {
    this.samples = [];
    this.best = undefined;
    this.spread = undefined;
  }

  /** Estimated room time now (ms); undefined before the first sample. */
  serverTime(): number | undefined {
    return this.best === undefined ? undefined : this.clock.now() + this.best.offset;
  }

  /** Estimated current server frame; undefined before the first sample. */
  serverFrame(tickInterval: number): number | undefined {
    const time = this.serverTime();
    return time === undefined ? undefined : Math.floor(time / tickInterval);
  }
}
