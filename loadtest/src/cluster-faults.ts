// The cluster under faults (issue 16): the build's cluster (2 gateways, 2 simulators, 1 persister; every gateway and
// simulator in a network namespace of its own, against private NATS, Redis and Postgres servers) under a steady
// load of SDK clients on both gateways writing acknowledged world ops and ecs-sync document changes; one fault per
// scenario; afterwards every acknowledged change must be present, the clients converged, and no two owners of a
// room believed at once. Ends with `faults: N scenarios, lost acked L, split brain S, max failover F ms` and a table.
// `runClusterFaults` is what `npm run cluster:faults` and the CI subset call.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import pg from 'pg';
import { P3Client } from '@p3/client';
import { NatsBus, encodeIdToken } from '@p3/runtime';
import { clusterEnv, freeBasePort, type ClusterProcess } from '../../scripts/cluster-processes.js';
import { FaultCluster } from './faults/fault-cluster.js';
import { clockTicksPerSecond, processCpuTicks } from './proc-stats.js';
import { FaultLoad, until } from './faults/fault-load.js';
import { OutputSnoop } from './faults/output-snoop.js';
import { repoRoot } from './ts-process.js';

export const allScenarios = [
  'kill-simulator',
  'kill-gateway',
  'kill-persister',
  'sigterm-simulator',
  'rolling-restart',
  'partition-simulator',
  'nats-restart',
  'redis-restart',
  'postgres-down',
  'nats-latency-loss',
  'connect-storm',
] as const;
export type FaultScenario = (typeof allScenarios)[number];

export interface ScenarioResult {
  readonly scenario: FaultScenario;
  /** Acknowledged world inputs and document changes missing afterwards. */
  readonly lostAcked: number;
  /** Two owners believed at once: epochs that produced the same frames (see OutputSnoop). */
  readonly splitBrain: number;
  /**
   * From the fault until the room served its clients again: the first output of the next owner (simulator faults),
   * every client back (gateway faults), or clients back and output flowing after the dependency returned.
   */
  readonly failoverMs: number;
  /** Sockets the gateways closed to resume (4006: owner moved or silent, unrepairable gap): a resync storm shows here. */
  readonly resumes: number;
  /** Reconnects of the world clients, and how many resumed their session with a delta. */
  readonly reconnects: number;
  readonly resumedWithDelta: number;
  /** World inputs the clients sent (every one acknowledged by the end: `lostAcked` counts the exceptions). */
  readonly worldInputs: number;
  /** Document changes acknowledged to the writers (each must be in the room afterwards). */
  readonly ackedDocumentChanges: number;
  readonly converged: boolean;
  /** Processes that exited without the scenario stopping them (a crash under the fault). */
  readonly crashes: number;
  /** What else the scenario measured or checked (a failed check also counts in `lostAcked` or `splitBrain`). */
  readonly note: string;
}

export interface FaultsReport {
  readonly results: readonly ScenarioResult[];
  readonly summary: string;
}

export interface FaultsOptions {
  /** Load before and after the fault, in seconds (default 3). */
  readonly loadSeconds?: number;
  /** How long Postgres stays down in `postgres-down` (default 30 s). */
  readonly postgresDownSeconds?: number;
  /** Clients of the connect storm (default 1,000). */
  readonly stormClients?: number;
  readonly log?: (line: string) => void;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** What one scenario's fault did, for its row. */
interface FaultEffect {
  readonly failoverMs: number;
  readonly note: string;
  /** A check of the scenario failed: counted as a lost acknowledged change (data or durability at risk). */
  readonly failed?: boolean;
}

interface ScenarioContext {
  readonly cluster: FaultCluster;
  readonly redis: Redis;
  readonly pool: pg.Pool;
  readonly prefix: string;
  readonly schema: string;
  readonly load: FaultLoad;
  readonly world: OutputSnoop;
  readonly options: Required<Omit<FaultsOptions, 'log'>> & Pick<FaultsOptions, 'log'>;
  readonly log: (line: string) => void;
}

/** Builds the services, starts a cluster of its own (servers, namespaces, prefix) and runs the scenarios in turn. */
export async function runClusterFaults(
  scenarios: readonly FaultScenario[],
  options: FaultsOptions = {},
): Promise<FaultsReport> {
  const log = options.log ?? (() => undefined);
  const settings = {
    loadSeconds: options.loadSeconds ?? 3,
    postgresDownSeconds: options.postgresDownSeconds ?? 30,
    stormClients: options.stormClients ?? 1000,
    log,
  };
  await mkdir(join(repoRoot, 'node_modules/.cache'), { recursive: true });
  const dist = await mkdtemp(join(repoRoot, 'node_modules/.cache/p3-faults-'));
  const prefix = `p3faults${process.pid}${Math.random().toString(36).slice(2, 6)}`;
  let cluster: FaultCluster | undefined;
  let nats: NatsConnection | undefined;
  let redis: Redis | undefined;
  let pool: pg.Pool | undefined;
  try {
    log('building the services');
    await build(dist);
    log('starting NATS, Redis and Postgres of its own, and the cluster in network namespaces');
    cluster = await FaultCluster.start({ dist, prefix, basePort: await freeBasePort(), log });
    nats = await connect({
      servers: cluster.deps.nats.url,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
    });
    redis = new Redis(cluster.deps.redis.url, { maxRetriesPerRequest: null });
    // Redis is restarted on purpose in one scenario: the client reconnects by itself.
    redis.on('error', () => undefined);
    pool = new pg.Pool({ connectionString: cluster.deps.postgres.url });
    pool.on('error', () => undefined);
    const bus = new NatsBus({ connection: nats, prefix });
    const schema = clusterEnv({ basePort: 0, prefix }, 'simulator').P3_DATABASE_SCHEMA ?? 'public';
    const results: ScenarioResult[] = [];
    for (const scenario of scenarios) {
      log(`scenario ${scenario}`);
      const started = performance.now();
      const world = new OutputSnoop(bus, { tenant: 'default', room: `faults-${scenario}` }, 'world');
      const doc = new OutputSnoop(bus, { tenant: 'default', room: `doc/faults-doc-${scenario}` }, 'document');
      await bus.flush();
      const clusterNow = cluster;
      const load = new FaultLoad(() => clusterNow.gateways, `faults-${scenario}`, `faults-doc-${scenario}`);
      await load.start();
      await sleep(settings.loadSeconds * 1000);
      const movedBefore = await movedSockets(cluster.gateways);
      const crashesBefore = cluster.crashed.length;
      const context: ScenarioContext = {
        cluster,
        redis,
        pool,
        prefix,
        schema,
        load,
        world,
        options: settings,
        log,
      };
      const effect = await inject(scenario, context);
      await sleep(settings.loadSeconds * 1000);
      const resumes = (await movedSockets(cluster.gateways)) - movedBefore;
      const outcome = await load.finish(() => {
        const gateway = clusterNow.gateways[0];
        return `http://${gateway?.address}:${gateway?.port}/v1/rooms/faults-doc-${scenario}/bootstrap`;
      });
      results.push({
        scenario,
        lostAcked: outcome.lostAcked + (effect.failed ? 1 : 0),
        splitBrain: world.splitBrain + doc.splitBrain,
        failoverMs: Math.round(effect.failoverMs),
        resumes: Math.max(0, resumes),
        reconnects: outcome.reconnects,
        resumedWithDelta: outcome.resumed,
        worldInputs: outcome.worldInputs,
        ackedDocumentChanges: outcome.ackedDocumentChanges,
        converged: outcome.converged,
        crashes: cluster.crashed.length - crashesBefore,
        note: [
          effect.note,
          ...(outcome.divergence === undefined ? [] : [`NOT CONVERGED: ${outcome.divergence}`]),
          ...(world.splitBrain > 0 ? [`SPLIT BRAIN (world): ${world.describe()}`] : []),
          ...(doc.splitBrain > 0 ? [`SPLIT BRAIN (document): ${doc.describe()}`] : []),
          ...(cluster.crashed.length > crashesBefore
            ? [`CRASHED: ${cluster.crashed.slice(crashesBefore).join(', ')}`]
            : []),
        ].join('; '),
      });
      log(`scenario ${scenario}: ${Math.round((performance.now() - started) / 1000)} s`);
      await restoreCluster(cluster);
    }
    await bus.close();
    return { results, summary: summaryLine(results) };
  } finally {
    await cluster?.close();
    await nats?.close().catch(() => undefined);
    redis?.disconnect();
    await pool?.end().catch(() => undefined);
    await rm(dist, { recursive: true, force: true });
  }
}

/** Back to 2 gateways, 2 simulators and a persister for the next scenario. */
async function restoreCluster(cluster: FaultCluster): Promise<void> {
  for (let i = 1; i <= 2; i++)
    if (!cluster.gateways.some((g) => g.index === i)) await cluster.startProcess('gateway', i);
  while (cluster.simulators.length < 2) await cluster.startProcess('simulator');
  if (!cluster.persister) await cluster.startProcess('persister');
}

async function inject(scenario: FaultScenario, context: ScenarioContext): Promise<FaultEffect> {
  switch (scenario) {
    case 'kill-simulator':
      return simulatorFault(context, 'SIGKILL');
    case 'sigterm-simulator':
      return simulatorFault(context, 'SIGTERM');
    case 'kill-gateway':
      return killGateway(context);
    case 'kill-persister':
      return killPersister(context);
    case 'rolling-restart':
      return rollingRestart(context);
    case 'partition-simulator':
      return partitionSimulator(context);
    case 'nats-restart':
      return restartDependency(context, 'nats');
    case 'redis-restart':
      return restartDependency(context, 'redis');
    case 'postgres-down':
      return postgresDown(context);
    case 'nats-latency-loss':
      return natsLatencyLoss(context);
    case 'connect-storm':
      return connectStorm(context);
  }
}

/** The simulator holding the world room's lease. */
async function worldOwner(context: ScenarioContext): Promise<ClusterProcess | undefined> {
  const lease = await context.redis.get(
    `${context.prefix}:lease:default:${encodeIdToken(context.load.worldRoom)}`,
  );
  const owner = lease?.slice(0, lease.lastIndexOf('|'));
  return context.cluster.simulators.find((s) => context.cluster.memberId(s) === owner);
}

/** From `since` to the first output of an epoch above `epoch`. */
async function nextOwnerAfter(context: ScenarioContext, epoch: number, since: number): Promise<number> {
  await until(() => context.world.firstAfter(epoch) !== undefined, 20_000);
  return (context.world.firstAfter(epoch) ?? performance.now()) - since;
}

async function simulatorFault(context: ScenarioContext, signal: 'SIGKILL' | 'SIGTERM'): Promise<FaultEffect> {
  const owner = await worldOwner(context);
  if (!owner) return { failoverMs: 0, note: 'no owner found', failed: true };
  const epoch = context.world.epoch;
  const at = performance.now();
  const stopped = context.cluster.stopProcess(owner, signal);
  const failoverMs = await nextOwnerAfter(context, epoch, at);
  await stopped;
  return { failoverMs, note: `${signal} of ${owner.name}, the room's owner` };
}

async function killGateway(context: ScenarioContext): Promise<FaultEffect> {
  const gateway = context.cluster.gateways.find((g) => g.index === 1);
  if (!gateway) return { failoverMs: 0, note: 'no gateway-1', failed: true };
  const at = performance.now();
  await context.cluster.stopProcess(gateway, 'SIGKILL');
  await until(() => context.load.allConnected, 20_000);
  await sleep(200);
  await until(() => context.load.allConnected, 20_000);
  return { failoverMs: performance.now() - at, note: 'clients of gateway-1 back through gateway-2' };
}

/** The newest `updated_at` of the room snapshots in Postgres (0 when none, or Postgres is unreachable). */
async function newestSnapshotAt(context: ScenarioContext): Promise<number> {
  const result = await context.pool
    .query<{ at: Date | null }>(`SELECT max(updated_at) AS at FROM ${context.schema}.room_snapshots`)
    .catch(() => undefined);
  return result?.rows[0]?.at?.getTime() ?? 0;
}

async function killPersister(context: ScenarioContext): Promise<FaultEffect> {
  const persister = context.cluster.persister;
  if (!persister) return { failoverMs: 0, note: 'no persister', failed: true };
  await context.cluster.stopProcess(persister, 'SIGKILL');
  const downAt = Date.now();
  await sleep(3000);
  await context.cluster.startProcess('persister');
  const restartedAt = performance.now();
  // Snapshots taken while it was down wait in the JetStream stream and reach Postgres once it is back.
  const caughtUp = await until(async () => (await newestSnapshotAt(context)) > downAt, 30_000);
  return {
    failoverMs: 0,
    note: caughtUp
      ? `snapshots taken while it was down in Postgres ${Math.round(performance.now() - restartedAt)} ms after its restart`
      : 'no snapshot reached Postgres within 30 s of its restart',
    failed: !caughtUp,
  };
}

/**
 * SIGTERM of every service, one at a time, as a rolling deploy does: each step waits until the clients are served
 * again (all connected, room output flowing) and the replacement is ready, before the next.
 */
async function rollingRestart(context: ScenarioContext): Promise<FaultEffect> {
  const { cluster } = context;
  const steps = [
    ...cluster.gateways,
    ...cluster.simulators,
    ...(cluster.persister ? [cluster.persister] : []),
  ];
  let worst = 0;
  for (const process of steps) {
    const at = performance.now();
    const stopped = cluster.stopProcess(process, 'SIGTERM');
    await sleep(50);
    await until(() => context.load.allConnected && context.world.heard.lastAt > at + 50, 20_000);
    worst = Math.max(worst, performance.now() - at);
    await stopped;
    await cluster.startProcess(process.service, process.service === 'gateway' ? process.index : undefined);
  }
  return {
    failoverMs: worst,
    note: `${steps.map((p) => p.name).join(', ')} replaced one by one (SIGTERM); failover: the worst step, until clients were served again`,
  };
}

async function partitionSimulator(context: ScenarioContext): Promise<FaultEffect> {
  const owner = await worldOwner(context);
  const host = owner ? context.cluster.hostOf(owner) : undefined;
  if (!owner || !host) return { failoverMs: 0, note: 'no owner found', failed: true };
  const epoch = context.world.epoch;
  const at = performance.now();
  await host.net.partition();
  const failoverMs = await nextOwnerAfter(context, epoch, at);
  // Long past its lease: it must have stopped the room by its own clock, while cut off.
  await sleep(Math.max(0, 5000 - (performance.now() - at)));
  await host.net.heal();
  await sleep(2500);
  // What it logged since the partition: losing the lease by its own clock, finding itself deposed, or its room
  // log refusing an append (the successor appended meanwhile).
  const stops = context.cluster.marked(owner.name, at);
  const stopped = stops.length > 0;
  const alive = owner.child.exitCode === null && owner.child.signalCode === null;
  return {
    failoverMs,
    note: `${owner.name} cut off from NATS, Redis and Postgres for 5 s (iptables DROP in its namespace); it ${
      stopped
        ? `stopped the room by itself (${[...new Set(stops.map((line) => /"msg":"([^"]*)"/.exec(line)?.[1] ?? line))].join('; ')})`
        : `did NOT report stopping the room (its last output: ${owner.output().slice(-1500)})`
    }${alive ? ' and serves again after the heal' : ' and exited'}`,
    failed: !stopped,
  };
}

async function restartDependency(context: ScenarioContext, which: 'nats' | 'redis'): Promise<FaultEffect> {
  const server = context.cluster.deps[which];
  const heardBefore = context.world.heard.count;
  await server.kill();
  await sleep(which === 'nats' ? 2000 : 1000);
  await server.start();
  const back = performance.now();
  const recovered = await until(
    () =>
      context.load.allConnected &&
      context.world.heard.lastAt > back &&
      context.world.heard.count > heardBefore,
    30_000,
  );
  const recoveryMs = performance.now() - back;
  let presence = '';
  if (which === 'redis') {
    // Membership is rebuilt by the members' next heartbeats (a third of their TTL).
    const healed = await until(async () => {
      const [simulators, gateways] = await Promise.all([
        context.redis.zcard(`${context.prefix}:members`).catch(() => 0),
        context.redis.zcard(`${context.prefix}:gw:members`).catch(() => 0),
      ]);
      return simulators >= 2 && gateways >= 2;
    }, 10_000);
    presence = healed
      ? `; membership of every simulator and gateway back ${Math.round(performance.now() - back)} ms after the restart`
      : '; membership NOT healed within 10 s';
  }
  return {
    failoverMs: recoveryMs,
    note: `${which === 'nats' ? 'NATS killed for 2 s (JetStream kept on disk)' : 'Redis killed for 1 s, back empty (leases, buffers, membership lost)'}; recovery measured from its restart${presence}`,
    failed: !recovered,
  };
}

async function postgresDown(context: ScenarioContext): Promise<FaultEffect> {
  const { postgres } = context.cluster.deps;
  const seconds = context.options.postgresDownSeconds;
  await postgres.kill();
  const downAt = Date.now();
  await sleep(seconds * 1000);
  await postgres.start();
  const back = performance.now();
  const caughtUp = await until(async () => (await newestSnapshotAt(context)) > downAt, 60_000);
  return {
    failoverMs: 0,
    note: `Postgres down ${seconds} s; ${
      caughtUp
        ? `snapshots of the outage in Postgres ${Math.round(performance.now() - back)} ms after it came back`
        : 'no snapshot reached Postgres within 60 s after it came back'
    }`,
    failed: !caughtUp,
  };
}

async function natsLatencyLoss(context: ScenarioContext): Promise<FaultEffect> {
  const links = context.cluster.gatewayNatsLinks();
  // 100 +- 30 ms one way, and 2 % of chunks held 200 ms as a lost segment's retransmission would be.
  for (const link of links)
    link.proxy.setFaults({ latencyMs: 70, jitterMs: 60, lossRate: 0.02, lossStallMs: 200 });
  await sleep(context.options.loadSeconds * 2000);
  for (const link of links) link.proxy.setFaults({});
  return { failoverMs: 0, note: '100 +- 30 ms and 2 % loss between both gateways and NATS' };
}

/** 1,000 clients on gateway-1 (50 rooms); a kill -9 of it; how long until all are back through gateway-2. */
async function connectStorm(context: ScenarioContext): Promise<FaultEffect> {
  const { cluster } = context;
  const [home, other] = [
    cluster.gateways.find((g) => g.index === 1),
    cluster.gateways.find((g) => g.index === 2),
  ];
  if (!home || !other) return { failoverMs: 0, note: 'gateways missing', failed: true };
  const count = context.options.stormClients;
  const clients = Array.from(
    { length: count },
    (_, i) =>
      new P3Client({
        host: home.address,
        port: home.port,
        instanceId: `storm-${i % 50}`,
        autoConnect: false,
        fallbacks: [{ host: other.address, port: other.port }],
      }),
  );
  try {
    for (let i = 0; i < clients.length; i += 100)
      await Promise.all(clients.slice(i, i + 100).map((c) => c.connect()));
    context.log(`connect-storm: ${count} clients joined through gateway-1`);
    // Back means connected again after the kill: a client counts once its next session is established.
    const back = new Set<P3Client>();
    let killed = false;
    for (const client of clients)
      client.on('connect', () => {
        if (killed) back.add(client);
      });
    const cpu = new CpuSampler(other.child.pid ?? 0);
    const at = performance.now();
    killed = true;
    await cluster.stopProcess(home, 'SIGKILL');
    const allBack = await until(() => back.size === count, 60_000);
    const backMs = performance.now() - at;
    await sleep(500);
    const peak = cpu.stop();
    return {
      failoverMs: backMs,
      note: `${back.size}/${count} clients back through gateway-2 in ${Math.round(backMs)} ms; its peak CPU ${peak.peak}% of a core (mean ${peak.mean}%) over 100 ms samples`,
      failed: !allBack,
    };
  } finally {
    await Promise.all(clients.map((c) => c.disconnect().catch(() => undefined)));
  }
}

/** A process's CPU (% of one core) sampled every 100 ms (proc-stats.ts). */
class CpuSampler {
  private readonly samples: number[] = [];
  private readonly timer: NodeJS.Timeout;
  private last: number;
  private at = performance.now();

  constructor(private readonly pid: number) {
    this.last = this.ticks();
    this.timer = setInterval(() => {
      const [now, at] = [this.ticks(), performance.now()];
      this.samples.push(((now - this.last) / clockTicksPerSecond() / ((at - this.at) / 1000)) * 100);
      [this.last, this.at] = [now, at];
    }, 100);
  }

  stop(): { peak: number; mean: number } {
    clearInterval(this.timer);
    const peak = Math.max(0, ...this.samples);
    const mean = this.samples.length ? this.samples.reduce((a, b) => a + b, 0) / this.samples.length : 0;
    return { peak: Math.round(peak), mean: Math.round(mean) };
  }

  private ticks(): number {
    try {
      return processCpuTicks(this.pid);
    } catch {
      // The process ended: no more CPU.
      return this.last;
    }
  }
}

/** Sockets the gateways closed with RoomMoved so far (their `p3_gateway_cluster_members_moved_total`). */
async function movedSockets(gateways: readonly ClusterProcess[]): Promise<number> {
  let total = 0;
  for (const g of gateways) {
    const text = await fetch(`http://${g.address}:${g.port}/metrics`)
      .then((r) => r.text())
      .catch(() => '');
    const line = text.split('\n').find((l) => l.startsWith('p3_gateway_cluster_members_moved_total'));
    total += Number(line?.split(' ').pop() ?? 0);
  }
  return total;
}

function summaryLine(results: readonly ScenarioResult[]): string {
  const lost = results.reduce((sum, r) => sum + r.lostAcked, 0);
  const split = results.reduce((sum, r) => sum + r.splitBrain, 0);
  const failover = Math.max(0, ...results.map((r) => r.failoverMs));
  return `faults: ${results.length} scenarios, lost acked ${lost}, split brain ${split}, max failover ${failover} ms`;
}

/** The table printed above the summary line. */
export function formatFaults(report: FaultsReport): string {
  const header = [
    'scenario'.padEnd(20),
    'lost acked'.padStart(10),
    'split brain'.padStart(11),
    'failover ms'.padStart(11),
    'resumes'.padStart(7),
    'reconnects (delta)'.padStart(18),
    'world inputs'.padStart(12),
    'doc acked'.padStart(9),
    'crashes'.padStart(7),
    'converged',
  ].join(' ');
  const rows = report.results.map((r) =>
    [
      r.scenario.padEnd(20),
      String(r.lostAcked).padStart(10),
      String(r.splitBrain).padStart(11),
      String(r.failoverMs).padStart(11),
      String(r.resumes).padStart(7),
      `${r.reconnects} (${r.resumedWithDelta})`.padStart(18),
      String(r.worldInputs).padStart(12),
      String(r.ackedDocumentChanges).padStart(9),
      String(r.crashes).padStart(7),
      r.converged ? 'yes' : 'NO',
    ].join(' '),
  );
  const notes = report.results.map((r) => `  ${r.scenario}: ${r.note}`);
  return [header, ...rows, '', ...notes, '', report.summary].join('\n');
}

async function build(out: string): Promise<void> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/build.ts', '--out', out], {
    cwd: repoRoot,
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  if (code !== 0) throw new Error(`build failed:\n${output}`);
}
