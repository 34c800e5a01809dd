import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/** What a FaultProxy does to the bytes it forwards (both directions alike). */
export interface Faults {
  /** Added to every chunk's delivery. Default 0. */
  readonly latencyMs?: number;
  /** Uniform extra delay in [0, jitterMs) per chunk; order is kept (a chunk never overtakes an earlier one). */
  readonly jitterMs?: number;
  /**
   * TCP does not lose bytes, it retransmits them: a "lost" segment holds the stream up. With this probability a
   * chunk (and so everything behind it) waits `lossStallMs` more, as a retransmission after a loss would.
   */
  readonly lossRate?: number;
  /** The wait of a "lost" chunk. Default 200 ms (a typical minimum retransmission timeout). */
  readonly lossStallMs?: number;
}

/** One direction of one connection: chunks leave in order, each no earlier than its due time. */
class DelayedPipe {
  private readonly queue: Array<{ readonly due: number; readonly chunk: Buffer }> = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private lastDue = 0;

  constructor(
    private readonly to: Socket,
    private readonly faults: () => Faults,
    private readonly random: () => number,
  ) {}

  push(chunk: Buffer): void {
    const { latencyMs = 0, jitterMs = 0, lossRate = 0, lossStallMs = 200 } = this.faults();
    if (latencyMs === 0 && jitterMs === 0 && lossRate === 0 && this.queue.length === 0) {
      this.to.write(chunk);
      return;
    }
    let due = performance.now() + latencyMs + this.random() * jitterMs;
    if (lossRate > 0 && this.random() < lossRate) due += lossStallMs;
    // In order: never before the chunk ahead of it.
    due = Math.max(due, this.lastDue);
    this.lastDue = due;
    this.queue.push({ due, chunk });
    this.arm();
  }

  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.queue.length = 0;
  }

  private arm(): void {
    if (this.timer !== undefined) return;
    const head = this.queue[0];
    if (head === undefined) return;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        const now = performance.now();
        while (this.queue.length > 0 && (this.queue[0]?.due ?? Infinity) <= now + 0.5) {
          const next = this.queue.shift();
          if (next && !this.to.destroyed) this.to.write(next.chunk);
        }
        this.arm();
      },
      Math.max(0, head.due - performance.now()),
    );
  }
}

/**
 * A TCP proxy that injects faults between a node and a service (NATS, Redis) for the cluster's fault tests, where
 * `tc netem` is not available (the kernel here has no netem): latency, jitter, retransmission-like stalls for
 * "loss", and a partition (`cut`: every connection dropped, new ones refused until `heal`). No package fits: the
 * known ones (toxiproxy) need a server binary this machine cannot install.
 *
 * @example
 * const proxy = await FaultProxy.start({ target: { host: '127.0.0.1', port: 4222 } });
 * proxy.setFaults({ latencyMs: 100, jitterMs: 30, lossRate: 0.02 }); // then point the node at proxy.port
 * proxy.cut(); // partition
 */
export class FaultProxy {
  private faults: Faults = {};
  private readonly connections = new Set<{ client: Socket; upstream: Socket; pipes: DelayedPipe[] }>();
  private partitioned = false;

  private constructor(
    private readonly server: Server,
    private readonly target: { readonly host: string; readonly port: number },
    private readonly random: () => number,
  ) {}

  static async start(options: {
    readonly target: { readonly host: string; readonly port: number };
    /** Default 127.0.0.1 and a free port. */
    readonly listen?: { readonly host?: string; readonly port?: number };
    /** Uniform in [0, 1): injectable for tests. */
    readonly random?: () => number;
  }): Promise<FaultProxy> {
    const server = createServer();
    const proxy = new FaultProxy(server, options.target, options.random ?? Math.random);
    server.on('connection', (client) => proxy.accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.listen?.port ?? 0, options.listen?.host ?? '127.0.0.1', () => resolve());
    });
    return proxy;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Connections open now (client side). */
  get connectionCount(): number {
    return this.connections.size;
  }

  /** Replaces the faults; they apply to the chunks forwarded from now on. */
  setFaults(faults: Faults): void {
    this.faults = faults;
  }

  /** A partition: every connection is dropped (both ends reset), and new ones are refused until `heal()`. */
  cut(): void {
    this.partitioned = true;
    for (const connection of [...this.connections]) this.drop(connection);
  }

  heal(): void {
    this.partitioned = false;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    if (this.partitioned) {
      client.resetAndDestroy();
      return;
    }
    client.setNoDelay(true);
    const upstream = connect({ host: this.target.host, port: this.target.port, noDelay: true });
    const toUpstream = new DelayedPipe(upstream, () => this.faults, this.random);
    const toClient = new DelayedPipe(client, () => this.faults, this.random);
    const connection = { client, upstream, pipes: [toUpstream, toClient] };
    this.connections.add(connection);
    client.on('data', (chunk: Buffer) => toUpstream.push(chunk));
    upstream.on('data', (chunk: Buffer) => toClient.push(chunk));
    const end = () => this.drop(connection);
    for (const socket of [client, upstream]) {
      socket.on('error', end);
      socket.on('close', end);
    }
  }

  private drop(connection: { client: Socket; upstream: Socket; pipes: DelayedPipe[] }): void {
    if (!this.connections.delete(connection)) return;
    for (const pipe of connection.pipes) pipe.stop();
    connection.client.resetAndDestroy();
    connection.upstream.resetAndDestroy();
  }
}
