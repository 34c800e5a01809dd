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
  /** Counts not yet moved into prom-client, per counter and label value (see `bump`). */
  private readonly pending = new Map<Counter<string>, Map<string, number>>();

  constructor(registry: Registry, prefix = 'p3_gateway_') {
    const registers = [registry];
    this.connections = new Gauge({
      name: `${prefix}connections`,
      help: 'Open WebSocket connections',
      registers,
    });
    const pending = this.pending;
    /** `label` undefined: an unlabelled counter, its count kept under ''. */
    const flush = (label?: string) =>
      function (this: Counter<string>): void {
        const counts = pending.get(this);
        if (!counts) return;
        for (const [value, by] of counts) {
          if (by <= 0) continue;
          if (label === undefined) this.inc(by);
          else this.inc({ [label]: value }, by);
        }
        counts.clear();
      };
    this.messagesIn = new Counter({
      collect: flush('type'),
      name: `${prefix}messages_in_total`,
      help: 'Client messages decoded, by type',
      labelNames: ['type'],
      registers,
    });
    this.messagesOut = new Counter({
      collect: flush('kind'),
      name: `${prefix}messages_out_total`,
      help: 'Messages sent: broadcast frames count once per codec',
      labelNames: ['kind'],
      registers,
    });
    this.bytesOut = new Counter({
      collect: flush('codec'),
      name: `${prefix}bytes_out_total`,
      help: 'Encoded bytes written to sockets (per socket)',
      labelNames: ['codec'],
      registers,
    });
    this.bytesIn = new Counter({
      collect: flush(),
      name: `${prefix}bytes_in_total`,
      help: 'Bytes received from clients',
      registers,
    });
    this.rejected = new Counter({
      collect: flush('code'),
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
    for (const counter of [this.messagesIn, this.messagesOut, this.bytesOut, this.bytesIn, this.rejected])
      pending.set(counter, new Map());
    this.fanoutSeconds = new Histogram({
      name: `${prefix}fanout_seconds`,
      help: 'Time to encode and publish one broadcast to a room',
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05],
      registers,
    });
  }

  countBytesIn(bytes: number): void {
    this.bump(this.bytesIn, '', bytes);
  }

  countIn(type: string): void {
    this.bump(this.messagesIn, type);
  }

  countOut(kind: string): void {
    this.bump(this.messagesOut, kind);
  }

  countBytesOut(codec: string, bytes: number): void {
    this.bump(this.bytesOut, codec, bytes);
  }

  countRejected(code: string): void {
    this.bump(this.rejected, code);
  }

  /** Hot-path counts go to plain numbers; `collect` (run at scrape time) moves them into prom-client. */
  private bump(counter: Counter<string>, value: string, by = 1): void {
    const pending = this.pending.get(counter)!;
    pending.set(value, (pending.get(value) ?? 0) + by);
  }
}
