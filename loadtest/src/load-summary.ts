import type { Codec, ServerKind } from './bench-options.js';
import type { LatencyHistogramData, LatencySummary } from './latency-histogram.js';

/** What the clients measured over the window: of one load process, or merged over all of them. */
export interface LoadSummary {
  readonly event: 'summary';
  readonly target: ServerKind;
  readonly codec: Codec;
  readonly rooms: number;
  readonly clients: number;
  readonly connections: number;
  /** Merged: the mean of the processes' windows (each process times its own, between the same two commands). */
  readonly windowMs: number;
  /** Updates of other clients' bots received, summed over every client. */
  readonly updates: number;
  readonly updatesPerSecond: number;
  /** A client's own bot echoed back to it (P3 frames go to every member); not in `updates`. */
  readonly selfUpdatesPerSecond: number;
  /** WebSocket payload bytes received per client per second. */
  readonly bytesPerClientPerSecond: number;
  readonly messagesPerClientPerSecond: number;
  readonly sentPerSecond: number;
  /** Sender's performance.now() to a peer's receipt, both ends in one process (rooms never straddle processes). */
  readonly latencyMs: LatencySummary;
  /**
   * P3 only: `ops` messages sent in the window, and for those acked (possibly after the window closed: the load
   * process waits a few seconds for them), the time from sending one to the first ack covering it. Acks are
   * batched (one a second per sending member) and, with the room log, wait until what they cover is durable.
   * `acksAwaited - ackLatencyMs.count` sends were never acked. Raw floor: 0 and an empty summary.
   */
  readonly acksAwaited: number;
  readonly ackLatencyMs: LatencySummary;
  readonly pairsSeen: number;
  readonly pairsExpected: number;
  readonly acks: number;
  readonly rejects: number;
  readonly errors: number;
  readonly catchups: number;
  readonly decodeErrors: number;
  readonly unexpectedCloses: number;
  /**
   * Event-loop delay p99 of the load process over the window (merged: the worst process): high means the load
   * generator itself saturated.
   */
  readonly loadLoopDelayP99Ms: number;
  readonly sendLagMaxMs: number;
  /** Messages received by every client over the window (frames and acks; Colyseus: patches; raw: forwarded sends). */
  readonly receivedMessages: number;
  /**
   * JavaScript heap allocated by the load process(es) over the window, and their GCs (heap-allocations.ts): per
   * received message or delivered update, the weight of the client's receive path (the senders' work included).
   */
  readonly heapAllocatedBytes: number;
  readonly gcCount: number;
  readonly gcPauseMs: number;
}

/** The last line a load process prints: its own figures, plus what the orchestrator needs to merge them. */
export interface LoadProcessSummary extends LoadSummary {
  /** First global room index of this process; it ran rooms `roomOffset .. roomOffset + rooms - 1`. */
  readonly roomOffset: number;
  readonly latencyHistogram: LatencyHistogramData;
  readonly ackLatencyHistogram: LatencyHistogramData;
}

/** Narrows one parsed stdout line of a load process. */
export function isLoadProcessSummary(value: unknown): value is LoadProcessSummary {
  return typeof value === 'object' && value !== null && (value as { event?: unknown }).event === 'summary';
}
