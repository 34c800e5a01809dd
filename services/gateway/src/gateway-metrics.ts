import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Gateway metrics, registered on the registry the service was given (never the global one). */
export class GatewayMetrics {
  readonly connections: Gauge;
  readonly messagesIn: Counter<'type'>;
  readonly messagesOut: Counter<'kind'>;
  readonly bytesOut: Counter<'codec'>;
  readonly bytesIn: Counter;
  readonly rejected: Counter<'code'>;
  readonly backpressure: Counter<'action'>;
  readonly closes: Counter<'code'>;
  readonly fanoutSeconds: Histogram;
  /** Open server-sent-event streams (`GET /v1/rooms/{id}/sync`). */
  readonly sseStreams: Gauge;
  readonly sseBackpressure: Counter<'action'>;
  /** Counts not yet moved into prom-client (hot-path counters; `collect`, run at scrape time, moves them). */
  private readonly pendingIn = new PendingCounts();
  private readonly pendingOut = new PendingCounts();
  private readonly pendingBytesOut = new PendingCounts();
  private readonly pendingBytesIn = new PendingCounts();
  private readonly pendingRejected = new PendingCounts();

  constructor(registry: Registry, prefix = 'p3_gateway_') {
    const registers = [registry];
    this.connections = new Gauge({
      name: `${prefix}connections`,
      help: 'Open WebSocket connections',
      registers,
    });
    /** `label` undefined: an unlabelled counter, its count kept under ''. */
    const flush = (counts: PendingCounts, label?: string) =>
      function (this: Counter<string>): void {
        counts.drain((value, by) => {
          if (label === undefined) this.inc(by);
          else this.inc({ [label]: value }, by);
        });
      };
    this.messagesIn = new Counter({
      collect: flush(this.pendingIn, 'type'),
      name: `${prefix}messages_in_total`,
      help: 'Client messages decoded, by type',
      labelNames: ['type'],
      registers,
    });
    this.messagesOut = new Counter({
      collect: flush(this.pendingOut, 'kind'),
      name: `${prefix}messages_out_total`,
      help: 'Messages sent: broadcast frames count once per codec',
      labelNames: ['kind'],
      registers,
    });
    this.bytesOut = new Counter({
      collect: flush(this.pendingBytesOut, 'codec'),
      name: `${prefix}bytes_out_total`,
      help: 'Encoded bytes written to sockets (per socket)',
      labelNames: ['codec'],
      registers,
    });
    this.bytesIn = new Counter({
      collect: flush(this.pendingBytesIn),
      name: `${prefix}bytes_in_total`,
      help: 'Bytes received from clients',
      registers,
    });
    this.rejected = new Counter({
      collect: flush(this.pendingRejected, 'code'),
      name: `${prefix}rejected_messages_total`,
      help: 'Client messages refused by the gateway, by error code',
      labelNames: ['code'],
      registers,
    });
    this.backpressure = new Counter({
      name: `${prefix}backpressure_total`,
      help: 'Backpressure actions: lagging, caught_up, closed',
      labelNames: ['action'],
      registers,
    });
    this.closes = new Counter({
      name: `${prefix}closes_total`,
      help: 'Sockets closed by the gateway, by close code',
      labelNames: ['code'],
      registers,
    });
    this.sseStreams = new Gauge({
      name: `${prefix}sse_streams`,
      help: 'Open server-sent-event streams',
      registers,
    });
    this.sseBackpressure = new Counter({
      name: `${prefix}sse_backpressure_total`,
      help: 'Server-sent-event streams: lagging (socket full), caught_up, closed (behind for too long)',
      labelNames: ['action'],
      registers,
    });
    this.fanoutSeconds = new Histogram({
      name: `${prefix}fanout_seconds`,
      help: 'Time to encode and publish one broadcast to a room',
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05],
      registers,
    });
  }

  countBytesIn(bytes: number): void {
    this.pendingBytesIn.add('', bytes);
  }

  countIn(type: string): void {
    this.pendingIn.add(type, 1);
  }

  countOut(kind: string): void {
    this.pendingOut.add(kind, 1);
  }

  countBytesOut(codec: string, bytes: number): void {
    this.pendingBytesOut.add(codec, bytes);
  }

  countRejected(code: string): void {
    this.pendingRejected.add(code, 1);
  }
}

/**
 * Counts of one counter per label value, kept as plain numbers on the hot path: one map lookup per count (the
 * cells stay after a drain, since label values are few and come back).
 */
class PendingCounts {
  private readonly cells = new Map<string, { n: number }>();

  add(value: string, by: number): void {
    const cell = this.cells.get(value);
    if (cell === undefined) this.cells.set(value, { n: by });
    else cell.n += by;
  }

  /** Hands every count not yet moved to `to`, and zeroes it. */
  drain(to: (value: string, by: number) => void): void {
    for (const [value, cell] of this.cells) {
      if (cell.n <= 0) continue;
      const by = cell.n;
      cell.n = 0;
      to(value, by);
    }
  }
}
