import { LatencyHistogram } from './latency-histogram.js';
import type { LoadProcessSummary, LoadSummary } from './load-summary.js';

/**
 * One `LoadSummary` for the whole load from the summaries of the load processes that shared it by room. Counts and
 * rates add up (each process turned its counts into rates over its own window, and the windows are the same two
 * orchestrator commands); per-client rates are weighted by each process's connections; latency percentiles come
 * from the merged histograms, never from averaging percentiles; loop delay and send lag take the worst process;
 * heap allocations and GCs add up.
 */
export function mergeLoadSummaries(
  parts: readonly LoadProcessSummary[],
  latency: LatencyHistogram = mergeHistograms(parts),
  ackLatency: LatencyHistogram = mergeHistograms(parts, 'ackLatencyHistogram'),
): LoadSummary {
  const first = parts[0];
  if (first === undefined) throw new Error('no load summary to merge');
  for (const part of parts) {
    if (part.target !== first.target || part.codec !== first.codec || part.clients !== first.clients)
      throw new Error('load summaries of different runs cannot be merged');
  }
  // A room measured by two processes would count its pairs twice and still look complete.
  const ranges = [...parts].sort((a, b) => a.roomOffset - b.roomOffset);
  for (let i = 1; i < ranges.length; i++) {
    const previous = ranges[i - 1] as LoadProcessSummary;
    if ((ranges[i] as LoadProcessSummary).roomOffset < previous.roomOffset + previous.rooms)
      throw new Error('load processes ran overlapping rooms');
  }
  const sum = (pick: (part: LoadProcessSummary) => number): number =>
    parts.reduce((total, part) => total + pick(part), 0);
  const worst = (pick: (part: LoadProcessSummary) => number): number => Math.max(...parts.map(pick));
  const connections = sum((p) => p.connections);
  const perClient = (pick: (part: LoadProcessSummary) => number): number =>
    connections === 0 ? 0 : sum((p) => pick(p) * p.connections) / connections;
  return {
    event: 'summary',
    target: first.target,
    codec: first.codec,
    rooms: sum((p) => p.rooms),
    clients: first.clients,
    connections,
    windowMs: sum((p) => p.windowMs) / parts.length,
    updates: sum((p) => p.updates),
    updatesPerSecond: sum((p) => p.updatesPerSecond),
    selfUpdatesPerSecond: sum((p) => p.selfUpdatesPerSecond),
    bytesPerClientPerSecond: perClient((p) => p.bytesPerClientPerSecond),
    messagesPerClientPerSecond: perClient((p) => p.messagesPerClientPerSecond),
    sentPerSecond: sum((p) => p.sentPerSecond),
    latencyMs: latency.summary(),
    acksAwaited: sum((p) => p.acksAwaited),
    ackLatencyMs: ackLatency.summary(),
    pairsSeen: sum((p) => p.pairsSeen),
    pairsExpected: sum((p) => p.pairsExpected),
    acks: sum((p) => p.acks),
    rejects: sum((p) => p.rejects),
    errors: sum((p) => p.errors),
    catchups: sum((p) => p.catchups),
    decodeErrors: sum((p) => p.decodeErrors),
    unexpectedCloses: sum((p) => p.unexpectedCloses),
    loadLoopDelayP99Ms: worst((p) => p.loadLoopDelayP99Ms),
    sendLagMaxMs: worst((p) => p.sendLagMaxMs),
    receivedMessages: sum((p) => p.receivedMessages),
    heapAllocatedBytes: sum((p) => p.heapAllocatedBytes),
    gcCount: sum((p) => p.gcCount),
    gcPauseMs: sum((p) => p.gcPauseMs),
  };
}

/** A latency histogram of the whole load (update latency, or ack latency): every process's buckets added up. */
export function mergeHistograms(
  parts: readonly LoadProcessSummary[],
  which: 'latencyHistogram' | 'ackLatencyHistogram' = 'latencyHistogram',
): LatencyHistogram {
  const latency = new LatencyHistogram();
  for (const part of parts) latency.addData(part[which]);
  return latency;
}
