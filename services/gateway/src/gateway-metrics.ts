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
  /** Label children resolved once: `inc({label})` per message resolves labels every time (a hot path cost). */
  private readonly children = new Map<string, { inc(value?: number): void }>();

  constructor(registry: Registry, prefix = 'p3_gateway_') {
    const registers = [registry];
    this.connections = new Gauge({
      name: `${prefix}connections`,
      help: 'Open WebSocket connections',
      registers,
    });
    this.messagesIn = new Counter({
      name: `${prefix}messages_in_total`,
      help: 'Client messages decoded, by type',
      labelNames: ['type'],
      registers,
    });
    this.messagesOut = new Counter({
      name: `${prefix}messages_out_total`,
      help: 'Messages sent: broadcast frames count once per codec',
      labelNames: ['kind'],
      registers,
    });
    this.bytesOut = new Counter({
      name: `${prefix}bytes_out_total`,
      help: 'Encoded bytes written to sockets (per socket)',
      labelNames: ['codec'],
      registers,
    });
    this.bytesIn = new Counter({
      name: `${prefix}bytes_in_total`,
      help: 'Bytes received from clients',
      registers,
    });
    this.rejected = new Counter({
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
    this.fanoutSeconds = new Histogram({
      name: `${prefix}fanout_seconds`,
      help: 'Time to encode and publish one broadcast to a room',
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05],
      registers,
    });
  }

  countIn(type: string): void {
    this.child(this.messagesIn, 'type', type).inc();
  }

  countOut(kind: string): void {
    this.child(this.messagesOut, 'kind', kind).inc();
  }

  countBytesOut(codec: string, bytes: number): void {
    this.child(this.bytesOut, 'codec', codec).inc(bytes);
  }

  countRejected(code: string): void {
    this.child(this.rejected, 'code', code).inc();
  }

  private child(counter: Counter<string>, label: string, value: string): { inc(value?: number): void } {
    const key = `${label}\u0000${value}\u0000${counter === this.messagesIn ? 'i' : counter === this.messagesOut ? 'o' : counter === this.bytesOut ? 'b' : 'r'}`;
    let child = this.children.get(key);
    if (!child) {
      child = counter.labels({ [label]: value });
      this.children.set(key, child);
    }
    return child;
  }
}
