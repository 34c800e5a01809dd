/** Latency figures in milliseconds. */
export interface LatencySummary {
  readonly count: number;
  /** Samples at or above `LATENCY_HISTOGRAM_LIMIT_MS`: counted, but only `max` says how far above. */
  readonly overflow: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

/**
 * A histogram as one process sends it to another: only the non-empty buckets, as `[bucket index, count]`, so a
 * summary line stays small (latencies gather in a few thousand of the 200,000 buckets).
 */
export interface LatencyHistogramData {
  readonly bucketMs: number;
  readonly count: number;
  readonly sum: number;
  readonly max: number;
  readonly overflow: number;
  readonly buckets: ReadonlyArray<readonly [number, number]>;
}

/** Width of one bucket: 10 microseconds, far below the latencies measured (a tick is 33 ms). */
export const LATENCY_BUCKET_MS = 0.01;
/** Samples from here up land in the overflow count. */
export const LATENCY_HISTOGRAM_LIMIT_MS = 2000;

// Integers, so bucket edges are computed by one multiplication or division each, without accumulated error.
const BUCKETS_PER_MS = 100;
const BUCKET_COUNT = LATENCY_HISTOGRAM_LIMIT_MS * BUCKETS_PER_MS;

/**
 * Latency samples in fixed 10-microsecond buckets up to 2 s (one preallocated Uint32Array, 800 kB) plus an overflow
 * count; count, sum and max are exact. `add` never allocates, every sample is kept (no sampling), and histograms
 * of several processes merge by adding buckets, so percentiles over many load processes are exact to a bucket.
 */
export class LatencyHistogram {
  private readonly buckets = new Uint32Array(BUCKET_COUNT);
  private count = 0;
  private sum = 0;
  private max = 0;
  private overflow = 0;

  static fromData(data: LatencyHistogramData): LatencyHistogram {
    const histogram = new LatencyHistogram();
    histogram.addData(data);
    return histogram;
  }

  /** Samples added so far. */
  get sampleCount(): number {
    return this.count;
  }

  add(ms: number): void {
    // Sender and receiver share one clock, so a sample is never negative; the guard also turns NaN into 0, which
    // keeps the bucket index an integer (a NaN index would set a property on the typed array, counting nothing).
    const value = ms > 0 ? ms : 0;
    this.count++;
    this.sum += value;
    if (value > this.max) this.max = value;
    const index = Math.floor(value * BUCKETS_PER_MS);
    if (index < BUCKET_COUNT) this.buckets[index] = (this.buckets[index] as number) + 1;
    else this.overflow++;
  }

  /** Adds every sample of `other` (as if they had been added here). */
  merge(other: LatencyHistogram): void {
    const { buckets } = this;
    for (let i = 0; i < BUCKET_COUNT; i++) buckets[i] = (buckets[i] as number) + (other.buckets[i] as number);
    this.addTotals(other.count, other.sum, other.max, other.overflow);
  }

  /** The same for a histogram received from another process. */
  addData(data: LatencyHistogramData): void {
    if (data.bucketMs !== LATENCY_BUCKET_MS)
      throw new Error(`latency histogram with ${data.bucketMs} ms buckets, expected ${LATENCY_BUCKET_MS}`);
    for (const [index, count] of data.buckets) {
      if (!Number.isInteger(index) || index < 0 || index >= BUCKET_COUNT)
        throw new Error(`latency histogram bucket ${index} out of range`);
      this.buckets[index] = (this.buckets[index] as number) + count;
    }
    this.addTotals(data.count, data.sum, data.max, data.overflow);
  }

  reset(): void {
    this.buckets.fill(0);
    this.count = 0;
    this.sum = 0;
    this.max = 0;
    this.overflow = 0;
  }

  toData(): LatencyHistogramData {
    const buckets: Array<[number, number]> = [];
    for (let i = 0; i < BUCKET_COUNT; i++) {
      const count = this.buckets[i] as number;
      if (count > 0) buckets.push([i, count]);
    }
    const { count, sum, max, overflow } = this;
    return { bucketMs: LATENCY_BUCKET_MS, count, sum, max, overflow, buckets };
  }

  summary(): LatencySummary {
    return {
      count: this.count,
      overflow: this.overflow,
      p50: this.percentile(0.5),
      p90: this.percentile(0.9),
      p99: this.percentile(0.99),
      max: this.max,
      mean: this.count === 0 ? 0 : this.sum / this.count,
    };
  }

  /**
   * Nearest rank: the sample at rank ceil(q x count), reported as the UPPER edge of its bucket, capped at the exact
   * max. So the figure never understates the latency and overstates it by less than one bucket (10 us). A rank in
   * the overflow reports the max, the only bound known there. 0 when empty.
   */
  percentile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.min(this.count, Math.max(1, Math.ceil(q * this.count)));
    let seen = 0;
    for (let i = 0; i < BUCKET_COUNT; i++) {
      seen += this.buckets[i] as number;
      if (seen >= rank) return Math.min((i + 1) / BUCKETS_PER_MS, this.max);
    }
    return this.max;
  }

  /**
   * The q-quantile of (sample + W), W uniform over [0, waitMs) and independent of the sample: what these latencies
   * would be if each also waited for the next tick of a server ticking every `waitMs` at a random phase. Applied to
   * the raw floor, it is the best a ticked server could measure on the same machine and load: one that added
   * nothing but the wait. Samples count at their bucket's middle (overflow ones at the max).
   */
  quantileWithUniformWait(q: number, waitMs: number): number {
    if (this.count === 0) return 0;
    if (!(waitMs > 0)) return this.percentile(q);
    const above = 1 - q;
    // Share of all samples whose sum with the wait exceeds x; decreasing in x.
    const exceeding = (x: number): number => {
      let n = this.overflow * clamp01((this.max + waitMs - x) / waitMs);
      for (let i = 0; i < BUCKET_COUNT; i++) {
        const c = this.buckets[i] as number;
        if (c === 0) continue;
        const v = (i + 0.5) / BUCKETS_PER_MS;
        n += c * clamp01((v + waitMs - x) / waitMs);
      }
      return n / this.count;
    };
    let low = 0;
    let high = this.max + waitMs;
    // Bisection to well below the 10 us resolution of the buckets.
    for (let step = 0; step < 40; step++) {
      const mid = (low + high) / 2;
      if (exceeding(mid) > above) low = mid;
      else high = mid;
    }
    return high;
  }

  private addTotals(count: number, sum: number, max: number, overflow: number): void {
    this.count += count;
    this.sum += sum;
    if (max > this.max) this.max = max;
    this.overflow += overflow;
  }
}

function clamp01(x: number): number {
  return x < 0 ? 0 : x > 1 ? 1 : x;
}
