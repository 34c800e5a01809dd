/** Latency percentiles in milliseconds. */
export interface LatencySummary {
  readonly count: number;
  /** Samples kept for the percentiles: all of them, or a uniform reservoir once `count` passed the capacity. */
  readonly kept: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

/**
 * Latency samples in one preallocated Float64Array: `add` never allocates. Past the capacity it keeps a uniform
 * random sample (reservoir sampling), so percentiles stay unbiased; count, mean and max are always exact.
 */
export class LatencyRecorder {
  private readonly samples: Float64Array;
  private count = 0;
  private sum = 0;
  private max = 0;

  constructor(capacity: number) {
    this.samples = new Float64Array(Math.max(1, Math.floor(capacity)));
  }

  add(ms: number): void {
    const n = this.count++;
    this.sum += ms;
    if (ms > this.max) this.max = ms;
    if (n < this.samples.length) {
      this.samples[n] = ms;
      return;
    }
    const slot = Math.floor(Math.random() * (n + 1));
    if (slot < this.samples.length) this.samples[slot] = ms;
  }

  reset(): void {
    this.count = 0;
    this.sum = 0;
    this.max = 0;
  }

  /** Sorts the kept samples in place: call once, at the end. */
  summary(): LatencySummary {
    const kept = Math.min(this.count, this.samples.length);
    const sorted = this.samples.subarray(0, kept).sort();
    const at = (q: number): number => sorted[Math.max(0, Math.min(kept - 1, Math.ceil(q * kept) - 1))] ?? 0;
    return {
      count: this.count,
      kept,
      p50: at(0.5),
      p90: at(0.9),
      p99: at(0.99),
      max: this.max,
      mean: this.count === 0 ? 0 : this.sum / this.count,
    };
  }
}
