import { describe, expect, it } from 'vitest';
import {
  LATENCY_HISTOGRAM_LIMIT_MS,
  LatencyHistogram,
  type LatencyHistogramData,
} from '../src/latency-histogram.js';

function recordAll(values: readonly number[]): LatencyHistogram {
  const histogram = new LatencyHistogram();
  for (const v of values) histogram.add(v);
  return histogram;
}

/** Deterministic latencies spread like real ones: mostly 0-60 ms, a few in the overflow. */
function latencies(n: number, seed: number): number[] {
  let state = seed;
  const next = (): number => {
    state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0;
    return state / 2 ** 32;
  };
  return Array.from({ length: n }, () => (next() < 0.01 ? 2000 + next() * 3000 : next() ** 2 * 60));
}

describe('LatencyHistogram', () => {
  it('reports zeros when empty', () => {
    expect(new LatencyHistogram().summary()).toEqual({
      count: 0,
      overflow: 0,
      p50: 0,
      p90: 0,
      p99: 0,
      max: 0,
      mean: 0,
    });
  });

  it('reports nearest-rank percentiles as the upper edge of their 10-us bucket, with exact count, mean and max', () => {
    const summary = recordAll(Array.from({ length: 100 }, (_, i) => 100 - i)).summary();
    expect(summary.count).toBe(100);
    expect(summary.overflow).toBe(0);
    // Rank 50 is 50 ms, in bucket [50, 50.01).
    expect(summary.p50).toBeCloseTo(50.01, 9);
    expect(summary.p90).toBeCloseTo(90.01, 9);
    expect(summary.p99).toBeCloseTo(99.01, 9);
    expect(summary.max).toBe(100);
    expect(summary.mean).toBe(50.5);
  });

  it('resolves 10 us: samples inside one bucket are indistinguishable, the next bucket is not', () => {
    const histogram = recordAll([0.001, 0.009, 0.011, 5]);
    expect(histogram.percentile(0.5)).toBeCloseTo(0.01, 12);
    expect(histogram.percentile(0.75)).toBeCloseTo(0.02, 12);
  });

  it('never reports a percentile above the exact max', () => {
    const summary = recordAll([7.003]).summary();
    expect([summary.p50, summary.p99, summary.max]).toEqual([7.003, 7.003, 7.003]);
  });

  it('counts samples from the 2 s limit up as overflow, reporting the max for ranks that fall there', () => {
    const histogram = recordAll([1999.995, LATENCY_HISTOGRAM_LIMIT_MS, 5000]);
    const summary = histogram.summary();
    expect(summary.count).toBe(3);
    expect(summary.overflow).toBe(2);
    expect(summary.max).toBe(5000);
    // Rank 1 is in the last bucket, [1999.99, 2000); ranks 2 and 3 are in the overflow.
    expect(histogram.percentile(0.3)).toBeCloseTo(2000, 9);
    expect(summary.p50).toBe(5000);
    expect(summary.p99).toBe(5000);
    expect(histogram.toData().buckets).toEqual([[199_999, 1]]);
  });

  it('counts a negative or NaN sample as 0 ms instead of losing it', () => {
    const summary = recordAll([-1, Number.NaN, 3]).summary();
    expect(summary.count).toBe(3);
    expect(summary.p50).toBeCloseTo(0.01, 12);
    expect(summary.mean).toBe(1);
  });

  it('merges two histograms into exactly what one histogram of all the samples holds', () => {
    const a = latencies(5000, 1);
    const b = latencies(3000, 2);
    const whole = recordAll([...a, ...b]);
    const merged = recordAll(a);
    merged.merge(recordAll(b));
    const mergedData = merged.toData();
    const wholeData = whole.toData();
    expect(wholeData.overflow).toBeGreaterThan(0);
    expect(mergedData.buckets).toEqual(wholeData.buckets);
    expect([mergedData.count, mergedData.max, mergedData.overflow]).toEqual([
      wholeData.count,
      wholeData.max,
      wholeData.overflow,
    ]);
    // Float addition in another order: equal to rounding.
    expect(mergedData.sum).toBeCloseTo(wholeData.sum, 6);
    const { mean: mergedMean, ...mergedRest } = merged.summary();
    const { mean: wholeMean, ...wholeRest } = whole.summary();
    expect(mergedRest).toEqual(wholeRest);
    expect(mergedMean).toBeCloseTo(wholeMean, 9);
  });

  it('merges the sparse form another process sends as it merges a histogram', () => {
    const a = latencies(2000, 3);
    const b = latencies(2000, 4);
    const viaData = new LatencyHistogram();
    for (const part of [a, b]) {
      const line = JSON.stringify(recordAll(part).toData());
      viaData.addData(JSON.parse(line) as LatencyHistogramData);
    }
    const direct = recordAll(a);
    direct.merge(recordAll(b));
    expect(viaData.toData()).toEqual(direct.toData());
    expect(LatencyHistogram.fromData(direct.toData()).summary()).toEqual(direct.summary());
  });

  it('refuses a histogram of another bucket width or with a bucket out of range', () => {
    const data = recordAll([1, 2]).toData();
    expect(() => new LatencyHistogram().addData({ ...data, bucketMs: 0.1 })).toThrow(/0.1 ms buckets/);
    expect(() => new LatencyHistogram().addData({ ...data, buckets: [[200_000, 1]] })).toThrow(
      /out of range/,
    );
  });

  it('starts over on reset', () => {
    const histogram = recordAll([1, 2, 3000]);
    histogram.reset();
    histogram.add(4);
    expect(histogram.toData()).toEqual({
      bucketMs: 0.01,
      count: 1,
      sum: 4,
      max: 4,
      overflow: 0,
      buckets: [[400, 1]],
    });
  });

  it('adds a uniform wait over one tick interval to every sample (the ticked floor)', () => {
    // All samples at ~0: the sum is the wait alone, whose p99 is 99 % of the interval.
    const instant = new LatencyHistogram();
    for (let i = 0; i < 1000; i++) instant.add(0);
    expect(instant.quantileWithUniformWait(0.99, 33)).toBeCloseTo(0.005 + 0.99 * 33, 3);
    expect(instant.quantileWithUniformWait(0.5, 33)).toBeCloseTo(0.005 + 16.5, 3);
    // 98 % at 2 ms and 2 % at 20 ms: above 34.7 ms only the slow ones can be (P = 2 % x their chance).
    const tail = new LatencyHistogram();
    for (let i = 0; i < 980; i++) tail.add(2);
    for (let i = 0; i < 20; i++) tail.add(20);
    // 1 % above x: the fast ones contribute (2.005 + 33 - x) / 33 x 0.98 and the slow (20.005 + 33 - x) / 33 x 0.02.
    const x = tail.quantileWithUniformWait(0.99, 33);
    const above = (0.98 * Math.max(0, 2.005 + 33 - x) + 0.02 * Math.max(0, 20.005 + 33 - x)) / 33;
    expect(above).toBeCloseTo(0.01, 6);
    expect(x).toBeGreaterThan(instant.quantileWithUniformWait(0.99, 33) + 2);
    // No wait: the plain percentile.
    expect(tail.quantileWithUniformWait(0.99, 0)).toBe(tail.percentile(0.99));
  });
});
