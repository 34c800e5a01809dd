// The cluster under faults (issue 16, first scenarios): the build's cluster (2 gateways, 2 simulators, 1 persister)
// under a steady load of SDK clients on both gateways writing acknowledged world ops and ecs-sync document
// changes; one fault per scenario; afterwards every acknowledged change must be present, the clients converged,
// and no two owners of a room believed at once. Ends with `faults: N scenarios, lost acked L, split brain S, max
// failover F ms` and a table. `runClusterFaults` is what `npm run cluster:faults` and the CI subset call.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import pg from 'pg';
import { P3Client } from '@p3/client';
import { NatsBus, decodeEnvelope, encodeIdToken, roomOutput, type RoomKey } from '@p3/runtime';
import { FaultProxy, WsTestClient } from '@p3/test-support';
import {
  clusterEnv,
  freeBasePort,
  startCluster,
  stopCluster,
  type ClusterOptions,
  type ClusterProcess,
} from '../../scripts/cluster-processes.js';
import { repoRoot } from './ts-process.js';

export type FaultScenario = 'kill-simulator' | 'kill-gateway' | 'sigterm-simulator' | 'nats-latency-loss';
export const allScenarios: readonly FaultScenario[] = [
  'kill-simulator',
  'kill-gateway',
  'sigterm-simulator',
  'nats-latency-loss',
];

export interface ScenarioResult {
  readonly scenario: FaultScenario;
  /** Acknowledged world inputs and document changes missing afterwards. */
  readonly lostAcked: number;
  /** Rooms whose output had messages of an older epoch after the first of a newer one (two owners believed). */
  readonly splitBrain: number;
  /** From the fault to the first room output of the next owner (simulator faults) or every client back (gateway). */
  readonly failoverMs: number;
  /** Sockets the gateways closed to resume (4006: owner moved or silent, unrepairable gap): a resync storm shows here. */
  readonly resumes: number;
  /** World inputs the clients sent (every one acknowledged by the end: `lostAcked` counts the exceptions). */
  readonly worldInputs: number;
  /** Document changes acknowledged to the writers (each must be in the room afterwards). */
  readonly ackedDocumentChanges: number;
  readonly converged: boolean;
}

export interface FaultsReport {
  readonly results: readonly ScenarioResult[];
  readonly summary: string;
}

const databaseUrl = 'postgres://postgres@127.0.0.1:5432/test';
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function until(ok: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const started = Date.now();
  while (!(await ok())) {
    if (Date.now() - started > ms) return false;
    await sleep(20);
  }
  return true;
}

/** Every envelope of a room's output as published: per epoch, when its first and last message passed. */
class OutputSnoop {
  private readonly epochs = new Map<number, { first: number; last: number }>();
  private lateOld = 0;
  private newestEpoch = 0;
  private newestFirstAt = 0;

  constructor(bus: NatsBus, key: RoomKey) {
    bus.subscribe(roomOutput(key), (bytes) => {
      const decoded = decodeEnvelope(bytes);
      if (!decoded.ok) return;
      const now = performance.now();
      const { epoch } = decoded.envelope;
      const seen = this.epochs.get(epoch);
      if (seen) seen.last = now;
      else this.epochs.set(epoch, { first: now, last: now });
      if (epoch > this.newestEpoch) {
        this.newestEpoch = epoch;
        this.newestFirstAt = now;
      } else if (epoch < this.newestEpoch) this.lateOld++;
    });
  }

  /** Messages of an older epoch heard after a newer one had started: a deposed owner still publishing. */
  get overlaps(): number {
    return this.lateOld;
  }

  /** When the first message of an epoch above `epoch` passed (undefined: none yet). */
  firstAfter(epoch: number): number | undefined {
    return this.newestEpoch > epoch ? this.newestFirstAt : undefined;
  }

  get epoch(): number {
    return this.newestEpoch;
  }
}

/** A document writer that reconnects like the ecs-sync client, and remembers the last change acknowledged. */
class DocumentWriter {
  private client: WsTestClient;
  private counter = 0;
  lastAcked = 0;
  private stopped = false;
  private readonly pending = new Map<string, number>();

  constructor(
    private readonly urls: readonly string[],
    private readonly room: string,
    readonly key: string,
  ) {
    this.client = this.fresh(0);
  }

  private fresh(attempt: number): WsTestClient {
    const client = new WsTestClient(
      this.urls[attempt % this.urls.length] ?? '',
      `writer-${this.key}`,
      this.room,
    );
    const receive = client.receive.bind(client);
    client.receive = (text: string) => {
      receive(text);
      const message = JSON.parse(text) as { type: string; messageId?: string };
      const n = message.type === 'ack' && message.messageId ? this.pending.get(message.messageId) : undefined;
      if (n !== undefined) this.lastAcked = Math.max(this.lastAcked, n);
    };
    return client;
  }

  async start(): Promise<void> {
    let attempt = 0;
    for (;;) {
      if (this.stopped) return;
      try {
        await this.client.connect();
        await new Promise<void>((resolve) => {
          const check = setInterval(() => {
            if (!this.client.online || this.stopped) {
              clearInterval(check);
              resolve();
            }
          }, 20);
        });
      } catch {
        // not reachable now: try the next gateway
      }
      if (this.stopped) return;
      attempt++;
      await sleep(200);
      this.client = this.fresh(attempt);
    }
  }

  write(): void {
    if (!this.client.online) return;
    const n = ++this.counter;
    const id = this.client.edit({ [this.key]: { n } });
    if (id !== undefined) this.pending.set(id, n);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.client.disconnect().catch(() => undefined);
  }
}

/** Builds the services, starts a cluster of its own (prefix, streams, schema) and runs the scenarios one by one. */
export async function runClusterFaults(
  scenarios: readonly FaultScenario[],
  options: { readonly loadSeconds?: number; readonly log?: (line: string) => void } = {},
): Promise<FaultsReport> {
  const log = options.log ?? (() => undefined);
  const loadMs = (options.loadSeconds ?? 3) * 1000;
  await mkdir(join(repoRoot, 'node_modules/.cache'), { recursive: true });
  const dist = await mkdtemp(join(repoRoot, 'node_modules/.cache/p3-faults-'));
  const nats = await connect({ servers: '127.0.0.1:4222' });
  const redis = new Redis({ host: '127.0.0.1', port: 6379 });
  const pool = new pg.Pool({ connectionString: databaseUrl });
  const prefix = `p3faults${process.pid}${Math.random().toString(36).slice(2, 6)}`;
  const clusterOptions: ClusterOptions = {
    dist,
    basePort: await freeBasePort(),
    prefix,
    env: { P3_LOG_LEVEL: 'warn', P3_DATABASE_URL: databaseUrl },
  };
  let cluster: ClusterProcess[] = [];
  try {
    await build(dist);
    cluster = await startCluster(clusterOptions);
    const bus = new NatsBus({ connection: nats, prefix });
    const results: ScenarioResult[] = [];
    let next = 3;
    const { startClusterProcess } = await import('../../scripts/cluster-processes.js');
    /** Restarts both gateways with `env` added (SIGTERM first: they drain, their clients reconnect). */
    const restartGateways = async (env: Record<string, string>): Promise<void> => {
      const gateways = cluster.filter((p) => p.service === 'gateway');
      for (const g of gateways) g.child.kill('SIGTERM');
      await Promise.all(gateways.map((g) => g.exited));
      cluster = cluster.filter((p) => !gateways.includes(p));
      const options = { ...clusterOptions, env: { ...clusterOptions.env, ...env } };
      for (const g of gateways) cluster.push(await startClusterProcess(options, 'gateway', g.index));
    };
    for (const scenario of scenarios) {
      log(`scenario ${scenario}`);
      // 100 ms +- 30 ms and 2 % loss between the gateways and NATS, through a FaultProxy.
      const proxy =
        scenario === 'nats-latency-loss'
          ? await FaultProxy.start({ target: { host: '127.0.0.1', port: 4222 } })
          : undefined;
      if (proxy) {
        proxy.setFaults({ latencyMs: 70, jitterMs: 60, lossRate: 0.02, lossStallMs: 200 });
        await restartGateways({ P3_NATS_URL: `nats://127.0.0.1:${proxy.port}` });
      }
      const outcome = await runScenario(scenario, { cluster, bus, redis, prefix, loadMs, nats });
      results.push(outcome.result);
      if (proxy) {
        await restartGateways({});
        await proxy.close();
      }
      // Back to 2 gateways and 2 simulators for the next scenario.
      cluster = cluster.filter((p) => p !== outcome.gone);
      if (outcome.gone) {
        if (outcome.gone.service === 'gateway') await outcome.gone.exited;
        const index = outcome.gone.service === 'gateway' ? outcome.gone.index : next++;
        cluster.push(await startClusterProcess(clusterOptions, outcome.gone.service, index));
      }
    }
    await bus.close();
    return { results, summary: summaryLine(results) };
  } finally {
    await stopCluster(cluster, 'SIGKILL');
    const jsm = await jetstreamManager(nats);
    const env = clusterEnv(clusterOptions, 'simulator');
    for (const stream of [env.P3_SNAPSHOT_STREAM, env.P3_LOG_STREAM])
      if (stream) await jsm.streams.delete(stream).catch(() => undefined);
    if (env.P3_DATABASE_SCHEMA)
      await pool.query(`DROP SCHEMA IF EXISTS ${env.P3_DATABASE_SCHEMA} CASCADE`).catch(() => undefined);
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    await Promise.all([nats.close(), redis.quit(), pool.end()]);
    await rm(dist, { recursive: true, force: true });
  }
}

async function runScenario(
  scenario: FaultScenario,
  context: {
    readonly cluster: readonly ClusterProcess[];
    readonly bus: NatsBus;
    readonly redis: Redis;
    readonly prefix: string;
    readonly loadMs: number;
    readonly nats: NatsConnection;
  },
): Promise<{ result: ScenarioResult; gone: ClusterProcess | undefined }> {
  const { cluster, bus, redis, prefix, loadMs } = context;
  const gateways = cluster.filter((p) => p.service === 'gateway');
  const worldRoom = `faults-${scenario}`;
  const docRoom = `faults-doc-${scenario}`;
  const worldSnoop = new OutputSnoop(bus, { tenant: 'default', room: worldRoom });
  const docSnoop = new OutputSnoop(bus, { tenant: 'default', room: `doc/${docRoom}` });
  await bus.flush();
  // World load: 4 SDK clients, 2 per gateway, each turning its player every 100 ms.
  const clients = Array.from({ length: 4 }, (_, i) => {
    const home = gateways[i % gateways.length]!;
    return new P3Client({
      host: '127.0.0.1',
      port: home.port,
      instanceId: worldRoom,
      autoConnect: false,
      reconnect: { minDelayMs: 50, maxDelayMs: 500 },
      fallbacks: gateways.filter((g) => g !== home).map((g) => ({ host: '127.0.0.1', port: g.port })),
    });
  });
  await Promise.all(clients.map((c) => c.connect()));
  const players = clients.map((c, i) => c.createEntity('player', { name: `p${i}` }));
  let turns = 0;
  const worldLoad = setInterval(() => {
    turns++;
    clients.forEach((c, i) =>
      c.setInputState(players[i]!, { right: turns % 2 === 0, left: turns % 2 === 1 }),
    );
  }, 100);
  // Document load: 2 writers, one per gateway.
  const urls = gateways.map((g) => `ws://127.0.0.1:${g.port}/ecs-sync`);
  const writers = [0, 1].map(
    (i) => new DocumentWriter([urls[i]!, ...urls.filter((_, j) => j !== i)], docRoom, `w${i}`),
  );
  const running = writers.map((w) => w.start());
  const docLoad = setInterval(() => writers.forEach((w) => w.write()), 100);

  await sleep(loadMs);
  let gone: ClusterProcess | undefined;
  const epochBefore = worldSnoop.epoch;
  const faultAt = performance.now();
  const movedBefore = await movedSockets(gateways);
  if (scenario === 'nats-latency-loss') {
    // The fault is the degraded link itself, there from the start.
  } else if (scenario === 'kill-gateway') {
    gone = gateways[0];
    gone?.child.kill('SIGKILL');
  } else {
    const lease = await redis.get(`${prefix}:lease:default:${encodeIdToken(worldRoom)}`);
    const pid = Number(/-(\d+)-[a-z0-9]+\|/.exec(lease ?? '')?.[1]);
    gone = cluster.find((p) => p.service === 'simulator' && p.child.pid === pid);
    gone?.child.kill(scenario === 'kill-simulator' ? 'SIGKILL' : 'SIGTERM');
  }
  let failoverMs = 0;
  if (scenario === 'nats-latency-loss') {
    failoverMs = 0;
  } else if (scenario === 'kill-gateway') {
    await until(() => clients.every((c) => c.connected), 20_000);
    await sleep(200);
    await until(() => clients.every((c) => c.connected), 20_000);
    failoverMs = performance.now() - faultAt;
  } else {
    await until(() => worldSnoop.firstAfter(epochBefore) !== undefined, 20_000);
    failoverMs = (worldSnoop.firstAfter(epochBefore) ?? performance.now()) - faultAt;
  }
  await sleep(loadMs);
  const resumes = (await movedSockets(gateways.filter((g) => g !== gone))) - movedBefore;
  clearInterval(worldLoad);
  clearInterval(docLoad);
  // Settle: every op acknowledged, every client up to date.
  await until(() => clients.every((c) => c.connected && c.pendingOps === 0), 20_000);
  const finalInputs = clients.map((c, i) => JSON.stringify(c.getEntity(players[i]!)?.input ?? null));
  const converged = await until(
    () =>
      clients.every((viewer) =>
        players.every((id, i) => JSON.stringify(viewer.getEntity(id)?.input ?? null) === finalInputs[i]),
      ),
    10_000,
  );
  const lostWorld = clients.filter((c) => c.pendingOps > 0).length + (converged ? 0 : 1);
  // Documents: what was acknowledged is in the room (read through a gateway's HTTP API).
  await sleep(300);
  const gateway = cluster.find((p) => p.service === 'gateway' && p !== gone)!;
  const bootstrap = (await (
    await fetch(`http://127.0.0.1:${gateway.port}/v1/rooms/${docRoom}/bootstrap`)
  ).json()) as { objects?: Array<{ key: string; data: { n?: number } }> };
  const lostDocs = writers.filter((w) => {
    const n = bootstrap.objects?.find((o) => o.key === w.key)?.data.n ?? 0;
    return n < w.lastAcked;
  }).length;
  await Promise.all(writers.map((w) => w.stop()));
  await Promise.all(running);
  await Promise.all(clients.map((c) => c.disconnect()));
  return {
    result: {
      scenario,
      lostAcked: lostWorld + lostDocs,
      splitBrain: (worldSnoop.overlaps > 0 ? 1 : 0) + (docSnoop.overlaps > 0 ? 1 : 0),
      failoverMs: Math.round(failoverMs),
      resumes: Math.max(0, resumes),
      worldInputs: turns * clients.length,
      ackedDocumentChanges: writers.reduce((sum, w) => sum + w.lastAcked, 0),
      converged,
    },
    gone,
  };
}

/** Sockets the gateways closed with RoomMoved so far (their `p3_gateway_cluster_members_moved_total`). */
async function movedSockets(gateways: readonly ClusterProcess[]): Promise<number> {
  let total = 0;
  for (const g of gateways) {
    const text = await fetch(`http://127.0.0.1:${g.port}/metrics`)
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
  const rows = report.results.map(
    (r) =>
      `${r.scenario.padEnd(20)} ${String(r.lostAcked).padStart(10)} ${String(r.splitBrain).padStart(11)} ${String(r.failoverMs).padStart(11)} ${String(r.resumes).padStart(7)} ${String(r.worldInputs).padStart(12)} ${String(r.ackedDocumentChanges).padStart(11)} ${r.converged ? 'yes' : 'NO'}`,
  );
  return [
    `${'scenario'.padEnd(20)} ${'lost acked'.padStart(10)} ${'split brain'.padStart(11)} ${'failover ms'.padStart(11)} ${'resumes'.padStart(7)} ${'world inputs'.padStart(12)} ${'doc acked'.padStart(11)} converged`,
    ...rows,
    report.summary,
  ].join('\n');
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
