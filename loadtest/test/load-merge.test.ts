import { describe, expect, it } from 'vitest';
import { LatencyHistogram } from '../src/latency-histogram.js';
import { mergeLoadSummaries } from '../src/load-merge.js';
import type { LoadProcessSummary } from '../src/load-summary.js';

function part(
  roomOffset: number,
  rooms: number,
  latencies: readonly number[],
  overrides: Partial<LoadProcessSummary> = {},
  ackLatencies: readonly number[] = [],
): LoadProcessSummary {
  const histogram = new LatencyHistogram();
  for (const ms of latencies) histogram.add(ms);
  const acks = new LatencyHistogram();
  for (const ms of ackLatencies) acks.add(ms);
  const clients = 4;
  return {
    event: 'summary',
    target: 'p3',
    codec: 'binary',
    rooms,
    roomOffset,
    clients,
    connections: rooms * clients,
    windowMs: 2000,
    updates: latencies.length,
    updatesPerSecond: latencies.length / 2,
    selfUpdatesPerSecond: 10,
    bytesPerClientPerSecond: 100,
    messagesPerClientPerSecond: 10,
    sentPerSecond: 80,
    latencyMs: histogram.summary(),
    latencyHistogram: histogram.toData(),
    acksAwaited: ackLatencies.length,
    ackLatencyMs: acks.summary(),
    ackLatencyHistogram: acks.toData(),
    pairsSeen: rooms * clients * (clients - 1),
    pairsExpected: rooms * clients * (clients - 1),
    acks: 1,
    rejects: 0,
    errors: 0,
    catchups: 0,
    decodeErrors: 0,
    unexpectedCloses: 0,
    loadLoopDelayP99Ms: 5,
    sendLagMaxMs: 2,
    receivedMessages: 80,
    heapAllocatedBytes: 1000,
    gcCount: 3,
    gcPauseMs: 1.5,
    ...overrides,
  };
}

describe('mergeLoadSummaries', () => {
  it('adds counts and rates, weights per-client rates by connections and keeps the worst loop delay and lag', () => {
    const merged = mergeLoadSummaries([
      part(0, 3, [1, 2, 3], { bytesPerClientPerSecond: 100, windowMs: 2000, loadLoopDelayP99Ms: 5, acks: 7 }),
      part(3, 1, [4], {
        bytesPerClientPerSecond: 500,
        windowMs: 2010,
        sendLagMaxMs: 9,
        decodeErrors: 1,
        heapAllocatedBytes: 500,
        gcCount: 1,
      }),
    ]);
    expect(merged).toMatchObject({
      event: 'summary',
      rooms: 4,
      clients: 4,
      connections: 16,
      windowMs: 2005,
      updates: 4,
      updatesPerSecond: 2,
      selfUpdatesPerSecond: 20,
      sentPerSecond: 160,
      // (100 x 12 + 500 x 4) / 16
      bytesPerClientPerSecond: 200,
      pairsSeen: 48,
      pairsExpected: 48,
      acks: 8,
      decodeErrors: 1,
      loadLoopDelayP99Ms: 5,
      sendLagMaxMs: 9,
      receivedMessages: 160,
      heapAllocatedBytes: 1500,
      gcCount: 4,
      gcPauseMs: 3,
    });
    expect(merged).not.toHaveProperty('latencyHistogram');
    expect(merged).not.toHaveProperty('roomOffset');
  });

  it('takes latency percentiles from the merged histograms, never from percentiles of single processes', () => {
    // Each process alone has p50 = 1 ms; together the median sample is 10 ms.
    const fast = part(0, 1, [1, 1, 1, 10, 10]);
    const slow = part(1, 1, [1, 10, 10, 10, 10]);
    const { latencyMs } = mergeLoadSummaries([fast, slow]);
    expect(fast.latencyMs.p50).toBeCloseTo(1.01, 9);
    expect(latencyMs.count).toBe(10);
    expect(latencyMs.p50).toBeCloseTo(10, 9);
    expect(latencyMs.mean).toBeCloseTo(6.4, 9);
    expect(latencyMs.max).toBe(10);
  });

  it('merges ack latencies from the histograms too, and adds up the sends awaiting an ack', () => {
    const { ackLatencyMs, acksAwaited } = mergeLoadSummaries([
      part(0, 1, [1], { acksAwaited: 4 }, [100, 200, 900]),
      part(1, 1, [1], {}, [500, 1000]),
    ]);
    expect(acksAwaited).toBe(6);
    expect(ackLatencyMs.count).toBe(5);
    expect(ackLatencyMs.p50).toBeCloseTo(500.01, 9);
    expect(ackLatencyMs.max).toBe(1000);
  });

  it('refuses overlapping rooms, mixed runs and nothing', () => {
    expect(() => mergeLoadSummaries([part(0, 2, [1]), part(1, 2, [1])])).toThrow(/overlapping/);
    expect(() => mergeLoadSummaries([part(0, 1, [1]), part(1, 1, [1], { codec: 'json' })])).toThrow(
      /different runs/,
    );
    expect(() => mergeLoadSummaries([])).toThrow(/no load summary/);
  });
});
