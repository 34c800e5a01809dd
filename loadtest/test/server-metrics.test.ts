import { describe, expect, it } from 'vitest';
import { mergeScrapes, parseGatewayScrape, parseScrape, windowFigures } from '../src/server-metrics.js';

/** A /metrics text with both tick histograms at the given cumulative counts (buckets 1, 5, 10 ms, +Inf). */
function metrics(lateness: readonly number[], work: readonly number[], lagSeconds = 0.0123): string {
  const histogram = (name: string, counts: readonly number[]): string =>
    ['0.001', '0.005', '0.01', '+Inf']
      .map((le, i) => `${name}_bucket{le="${le}"} ${counts[i]}`)
      .concat(`${name}_count ${counts[3]}`)
      .join('\n');
  return [
    '# HELP nodejs_eventloop_lag_p99_seconds The 99th percentile of the recorded event loop delays.',
    `nodejs_eventloop_lag_p99_seconds ${lagSeconds}`,
    histogram('p3_simulator_tick_lateness_seconds', lateness),
    histogram('p3_simulator_tick_seconds', work),
  ].join('\n');
}

/** A /metrics text of a server with the file log: the append histogram (0.5, 1, 5 ms, +Inf) and the counters. */
function logMetrics(append: readonly number[], sumSeconds: number, syncs: number, records: number): string {
  return [
    ...['0.0005', '0.001', '0.005', '+Inf'].map(
      (le, i) => `p3_simulator_log_append_seconds_bucket{le="${le}"} ${append[i]}`,
    ),
    `p3_simulator_log_append_seconds_sum ${sumSeconds}`,
    `p3_simulator_log_append_seconds_count ${append[3]}`,
    '# HELP p3_log_syncs_total fdatasync calls of the room log (each covers every record appended before it)',
    '# TYPE p3_log_syncs_total counter',
    `p3_log_syncs_total ${syncs}`,
    `p3_log_records_total ${records}`,
    `p3_log_bytes_total ${records * 300}`,
  ].join('\n');
}

describe('server metrics over the window', () => {
  it('takes the log append p50/p99 and mean, syncs and records of the window', () => {
    const start = parseScrape(logMetrics([10, 10, 10, 10], 0.004, 5, 10));
    // In the window: 200 appends, 150 within 0.5 ms, 48 within 1 ms, 2 within 5 ms, 0.12 s in all; 20 syncs.
    const end = parseScrape(logMetrics([160, 208, 210, 210], 0.124, 25, 210));
    const figures = windowFigures(start, end);
    expect(figures.logAppendP50Ms).toBe(0.5);
    expect(figures.logAppendP99Ms).toBe(1);
    expect(figures.logAppendMeanMs).toBeCloseTo(0.6, 9);
    expect(figures).toMatchObject({ logAppends: 200, logSyncs: 20, logRecords: 200, logBytes: 60_000 });
  });

  it('leaves the log figures out for a server without a log', () => {
    const scrape = parseScrape(metrics([1, 1, 1, 1], [1, 1, 1, 1]));
    expect(windowFigures(scrape, scrape)).toMatchObject({
      logAppendP50Ms: undefined,
      logAppendP99Ms: undefined,
      logAppendMeanMs: undefined,
      logSyncs: undefined,
      logRecords: undefined,
    });
  });

  it('takes the p99 from the window only (end minus start), as the upper bound of its bucket', () => {
    // Before the window: 1,000 ticks, all late by over 10 ms (they must not count).
    const start = parseScrape(metrics([0, 0, 0, 1000], [1000, 1000, 1000, 1000]));
    // In the window: 1,000 more; 985 within 1 ms, 10 within 5 ms, 5 within 10 ms.
    const end = parseScrape(metrics([985, 995, 1000, 2000], [1500, 1999, 2000, 2000], 0.0154));
    const figures = windowFigures(start, end);
    expect(figures.tickLatenessP99Ms).toBe(5);
    // Work: 500 within 1 ms, 499 within 5 ms, 1 within 10 ms: the 990th is in the 5 ms bucket.
    expect(figures.tickWorkP99Ms).toBe(5);
    expect(figures.loopDelayP99Ms).toBeCloseTo(15.4, 6);
  });

  it('leaves figures out when a scrape failed or no tick ran in the window', () => {
    const same = parseScrape(metrics([1, 1, 1, 1], [1, 1, 1, 1]));
    expect(windowFigures(same, same).tickLatenessP99Ms).toBeUndefined();
    expect(windowFigures(undefined, same)).toMatchObject({
      loopDelayP99Ms: 12.3,
      tickLatenessP99Ms: undefined,
      tickWorkP99Ms: undefined,
      logAppendP99Ms: undefined,
    });
  });

  it('counts ops and late ops over the window, summed over labels, when the server exports them', () => {
    const ops = (total: number, late: number): string =>
      [
        `p3_simulator_ops_total{kind="update"} ${total - 10}`,
        `p3_simulator_ops_total{kind="create"} 10`,
        `p3_simulator_ops_late_total ${late}`,
      ].join('\n');
    const figures = windowFigures(parseScrape(ops(100, 1)), parseScrape(ops(1100, 21)));
    expect(figures.ops).toBe(1000);
    expect(figures.lateOps).toBe(20);
    const without = parseScrape(metrics([1, 1, 1, 1], [1, 1, 1, 1]));
    expect(windowFigures(without, without)).toMatchObject({ ops: undefined, lateOps: undefined });
  });

  it('adds the simulators of the cluster up as one server: histograms and counters summed, the worst loop delay', () => {
    const one = parseScrape(
      metrics([10, 20, 30, 40], [40, 40, 40, 40], 0.011) + '\np3_simulator_ops_total 100',
    );
    const two = parseScrape(metrics([1, 2, 3, 4], [4, 4, 4, 4], 0.015) + '\np3_simulator_ops_total 7');
    const merged = mergeScrapes([one, two]);
    expect(merged?.tickLateness.map((b) => b.count)).toEqual([11, 22, 33, 44]);
    expect(merged?.tickWork.map((b) => b.count)).toEqual([44, 44, 44, 44]);
    expect(merged?.loopDelayP99Ms).toBeCloseTo(15, 6);
    expect(merged?.ops).toBe(107);
    // No log histogram on either: still none; one scrape missing: no figures rather than half of them.
    expect(merged?.logAppend).toEqual([]);
    expect(merged?.logAppendSumSeconds).toBeUndefined();
    expect(mergeScrapes([one, undefined])).toBeUndefined();
  });

  it("reads a cluster gateway's counters and gauges, summed over labels", () => {
    const scrape = parseGatewayScrape(
      [
        'nodejs_eventloop_lag_p99_seconds 0.02',
        'p3_gateway_cluster_output_messages_total 600',
        'p3_gateway_cluster_output_bytes_total 120000',
        'p3_gateway_cluster_input_batches_total 4000',
        'p3_gateway_cluster_rooms_served 20',
        'p3_gateway_connections{protocol="p3.binary"} 240',
        'p3_gateway_connections{protocol="p3.json"} 10',
      ].join('\n'),
    );
    expect(scrape).toEqual({
      outputMessages: 600,
      outputBytes: 120000,
      inputBatches: 4000,
      roomsServed: 20,
      connections: 250,
      loopDelayP99Ms: 20,
    });
    expect(parseGatewayScrape('').outputMessages).toBeUndefined();
  });
});
