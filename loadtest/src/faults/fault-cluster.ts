// The cluster the fault matrix breaks: private NATS, Redis and Postgres servers (so restarting them touches nothing
// else on the machine), the persister on the machine's network, and every gateway and simulator in a network
// namespace of its own, reaching the three servers through forwarders on its veth: a partition is then a real one
// (iptables DROP inside the namespace), and latency or loss is injected in the forwarders.
import {
  type DependencyServer,
  NetHost,
  netHostsAvailable,
  startNatsServer,
  startPostgresServer,
  startRedisServer,
  type NetForward,
} from '@p3/test-support';
import {
  startClusterProcess,
  stopCluster,
  type ClusterOptions,
  type ClusterProcess,
  type ProcessPlacement,
  type ServiceName,
} from '../../../scripts/cluster-processes.js';

/** What a simulator logs when it stops a room by itself: its lease ran out, it found itself deposed, or its log refused. */
export const markedLines = ['room lease lost', 'deposed', 'room log appends are failing'] as const;

export interface FaultClusterOptions {
  /** The build (gateway.mjs, simulator.mjs, persister.mjs). */
  readonly dist: string;
  readonly prefix: string;
  readonly basePort: number;
  readonly log: (line: string) => void;
}

/** A gateway or simulator's host: its namespace and its forwarders to NATS, Redis and Postgres. */
export interface NodeHost {
  readonly net: NetHost;
  readonly nats: NetForward;
  readonly redis: NetForward;
  readonly postgres: NetForward;
}

export interface Dependencies {
  readonly nats: DependencyServer;
  readonly redis: DependencyServer;
  readonly postgres: DependencyServer;
}

export class FaultCluster {
  processes: ClusterProcess[] = [];
  private readonly hosts = new Map<ClusterProcess, NodeHost>();
  /**
   * A gateway's host outlives its process, as a load balancer's address outlives a pod: a restarted gateway is
   * reached where clients knew it. A simulator gets a new host each time (nobody dials it).
   */
  private readonly gatewayHosts = new Map<number, NodeHost>();
  private readonly ids = new Map<ClusterProcess, string>();
  private generation = 0;
  /** Processes this harness stopped: any other exit is a crash. */
  private readonly stopping = new Set<ClusterProcess>();
  /** Names of processes that exited without being stopped (crashed), in order. */
  readonly crashed: string[] = [];
  /**
   * Lines of interest per process name, with when they were logged: a process's own output is capped, and a node
   * cut off logs errors fast enough to push the line a scenario looks for out of it.
   */
  private readonly marks = new Map<string, Array<{ readonly at: number; readonly line: string }>>();
  private nextSimulator = 1;

  private constructor(
    private readonly options: FaultClusterOptions,
    readonly deps: Dependencies,
  ) {}

  /** The servers, then the persister, 2 simulators and 2 gateways (each in its namespace). */
  static async start(options: FaultClusterOptions): Promise<FaultCluster> {
    const available = await netHostsAvailable();
    if (!available.ok)
      throw new Error(`the fault matrix runs nodes in network namespaces, which needs: ${available.reason}`);
    const started: DependencyServer[] = [];
    try {
      const nats = await startNatsServer();
      started.push(nats);
      const redis = await startRedisServer();
      started.push(redis);
      const postgres = await startPostgresServer();
      started.push(postgres);
      const cluster = new FaultCluster(options, { nats, redis, postgres });
      try {
        await cluster.startProcess('persister');
        await Promise.all([cluster.startProcess('simulator'), cluster.startProcess('simulator')]);
        await Promise.all([cluster.startProcess('gateway', 1), cluster.startProcess('gateway', 2)]);
      } catch (error) {
        await cluster.close();
        throw error;
      }
      return cluster;
    } catch (error) {
      await Promise.all(started.map((server) => server.close().catch(() => undefined)));
      throw error;
    }
  }

  get gateways(): ClusterProcess[] {
    return this.live('gateway');
  }

  get simulators(): ClusterProcess[] {
    return this.live('simulator');
  }

  get persister(): ClusterProcess | undefined {
    return this.live('persister')[0];
  }

  /** The lines of `markedLines` a node (by name) logged after `since` (performance.now()). */
  marked(name: string, since: number): string[] {
    return (this.marks.get(name) ?? []).filter((mark) => mark.at >= since).map((mark) => mark.line);
  }

  /** The id a gateway or simulator has in membership, placement and leases. */
  memberId(node: ClusterProcess): string {
    return this.ids.get(node) ?? node.name;
  }

  hostOf(node: ClusterProcess): NodeHost | undefined {
    return this.hosts.get(node);
  }

  /** Every gateway's forwarder to NATS (latency and loss between the gateways and NATS go here). */
  gatewayNatsLinks(): NetForward[] {
    return this.gateways.flatMap((g) => {
      const host = this.hosts.get(g);
      return host ? [host.nats] : [];
    });
  }

  /**
   * Starts one node: a gateway takes `index` (its port), a simulator the next unused index (a new member id, as
   * a restarted pod would), the persister index 1 on the machine's own network.
   */
  async startProcess(service: ServiceName, gatewayIndex?: number): Promise<ClusterProcess> {
    const { prefix } = this.options;
    const index =
      service === 'gateway' ? (gatewayIndex ?? 1) : service === 'simulator' ? this.nextSimulator++ : 1;
    const generation = ++this.generation;
    const memberId = `${prefix}-${service}-${index}-g${generation}`;
    const clusterOptions: ClusterOptions = {
      dist: this.options.dist,
      basePort: this.options.basePort,
      prefix,
      env: { P3_LOG_LEVEL: 'warn' },
      onOutput: (name, line) => {
        if (!markedLines.some((marker) => line.includes(marker))) return;
        const marks = this.marks.get(name) ?? [];
        marks.push({ at: performance.now(), line });
        this.marks.set(name, marks.slice(-50));
      },
    };
    if (service === 'persister') {
      const placement: ProcessPlacement = {
        env: {
          P3_NATS_URL: this.deps.nats.url,
          P3_REDIS_URL: this.deps.redis.url,
          P3_DATABASE_URL: this.deps.postgres.url,
        },
      };
      const started = await startClusterProcess(clusterOptions, service, index, 20_000, placement);
      this.processes.push(started);
      this.watchExit(started);
      return started;
    }
    const kept = service === 'gateway' ? this.gatewayHosts.get(index) : undefined;
    const host = kept ?? (await this.createHost(`${service.slice(0, 3)}${index}g${generation}`));
    const { net, nats, redis, postgres } = host;
    if (service === 'gateway') this.gatewayHosts.set(index, host);
    try {
      const placement: ProcessPlacement = {
        command: (argv) => net.command(argv),
        address: net.address,
        env: {
          P3_NATS_URL: `nats://${nats.address}`,
          P3_REDIS_URL: `redis://${redis.address}`,
          ...(service === 'simulator'
            ? {
                P3_SIMULATOR_ID: memberId,
                P3_DATABASE_URL: `postgres://postgres@${postgres.address}/postgres`,
              }
            : { P3_GATEWAY_ID: memberId }),
        },
      };
      const started = await startClusterProcess(clusterOptions, service, index, 20_000, placement);
      this.processes.push(started);
      this.hosts.set(started, host);
      this.ids.set(started, memberId);
      this.watchExit(started);
      return started;
    } catch (error) {
      if (!kept) {
        this.gatewayHosts.delete(index);
        await net.close();
      }
      throw error;
    }
  }

  private async createHost(name: string): Promise<NodeHost> {
    const net = await NetHost.create({ name });
    try {
      const [nats, redis, postgres] = await Promise.all([
        net.forward(this.deps.nats.port),
        net.forward(this.deps.redis.port),
        net.forward(this.deps.postgres.port),
      ]);
      return { net, nats, redis, postgres };
    } catch (error) {
      await net.close();
      throw error;
    }
  }

  private watchExit(node: ClusterProcess): void {
    void node.exited.then((code) => {
      if (this.stopping.has(node)) return;
      this.crashed.push(node.name);
      this.options.log(`${node.name} CRASHED (${code}):\n${node.output().slice(-3000)}`);
    });
  }

  /** Kills (or signals) a node, waits for its exit, and removes its host. */
  async stopProcess(node: ClusterProcess, signal: NodeJS.Signals): Promise<void> {
    this.stopping.add(node);
    if (node.child.exitCode === null && node.child.signalCode === null) node.child.kill(signal);
    await Promise.race([
      node.exited,
      new Promise((resolve) =>
        setTimeout(() => {
          node.child.kill('SIGKILL');
          resolve(undefined);
        }, 15_000),
      ),
    ]);
    await node.exited;
    this.processes = this.processes.filter((p) => p !== node);
    const host = this.hosts.get(node);
    this.hosts.delete(node);
    if (host && node.service !== 'gateway') await host.net.close();
  }

  /** Stops a node and starts its replacement (same gateway port; a simulator gets a new index). */
  async replace(node: ClusterProcess, signal: NodeJS.Signals): Promise<ClusterProcess> {
    await this.stopProcess(node, signal);
    return this.startProcess(node.service, node.service === 'gateway' ? node.index : undefined);
  }

  async close(): Promise<void> {
    for (const node of this.processes) this.stopping.add(node);
    await stopCluster(this.processes, 'SIGKILL');
    const hosts = new Set([...this.hosts.values(), ...this.gatewayHosts.values()]);
    await Promise.all([...hosts].map((host) => host.net.close().catch(() => undefined)));
    this.hosts.clear();
    this.gatewayHosts.clear();
    await Promise.all(
      [this.deps.nats, this.deps.redis, this.deps.postgres].map((server) =>
        server.close().catch(() => undefined),
      ),
    );
  }

  private live(service: ServiceName): ClusterProcess[] {
    return this.processes.filter(
      (p) => p.service === service && p.child.exitCode === null && p.child.signalCode === null,
    );
  }
}
