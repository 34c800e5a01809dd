import type { Codec, ServerKind } from './bench-options.js';
import type { LatencySummary } from './latency-recorder.js';

/** The last line the load process prints: what the clients measured over the window. */
export interface LoadSummary {
  readonly event: 'summary';
  readonly target: ServerKind;
  readonly codec: Codec;
  readonly rooms: number;
  readonly clients: number;
  readonly connections: number;
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
  /** Sender's performance.now() to a peer's receipt, same process clock. */
  readonly latencyMs: LatencySummary;
  readonly pairsSeen: number;
  readonly pairsExpected: number;
  readonly acks: number;
  readonly rejects: number;
  readonly errors: number;
  readonly catchups: number;
  readonly decodeErrors: number;
  readonly unexpectedCloses: number;
  /** Event-loop delay p99 of the load process over the window: high means the load generator itself saturated. */
  readonly loadLoopDelayP99Ms: number;
  readonly sendLagMaxMs: number;
}

/** Narrows one parsed stdout line of the load process. */
export function isLoadSummary(value: unknown): value is LoadSummary {
  return typeof value === 'object' && value !== null && (value as { event?: unknown }).event === 'summary';
}
