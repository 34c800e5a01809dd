// The `p3-cluster` kind of the arena bench: the cluster of `npm run cluster` (2 gateways, 2 simulators, 1 persister,
// each its own `node` process running the production build) against the local NATS, Redis and Postgres, running the
// bench world. Every measurement gets a cluster of its own (fresh prefix, streams, consumer, schema, ports), and
// everything it made is removed afterwards.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { build, type Plugin } from 'esbuild';
import { Redis } from 'ioredis';
import pg from 'pg';
import {
  clusterEnv,
  freeBasePort,
  startClusterProcess,
  stopCluster,
  type ClusterOptions,
  type ClusterProcess,
  type ServiceName,
} from '../../scripts/cluster-processes.js';
import { repoRoot, scriptPath } from './ts-process.js';

/** Where the cluster's services are (the local ones of the test setup). */
const natsServers = '127.0.0.1:4222';
const redisOptions = { host: '127.0.0.1', port: 6379 } as const;
const databaseUrl = 'postgres://postgres@127.0.0.1:5432/test';

/**
 * Simulator settings the single-process bench server takes from the environment too (`simulatorConfigFromEnv`):
 * given to the cluster's simulators when set, so that `P3_LOG_INTERVAL_MS=1000 npm run bench:arena` measures both
 * with the same setting. (The cluster processes get no other P3_* variable of the shell.)
 */
const forwardedSimulatorSettings = [
  'P3_BUFFER_FRAME',
  'P3_ROOM_IDLE_TIMEOUT_MS',
  'P3_RESUME_GRACE_MS',
  'P3_SNAPSHOT_INTERVAL_MS',
  'P3_LOG_INTERVAL_MS',
  'P3_IDLE_HEARTBEAT_MS',
  'P3_MAX_ROOMS',
  'P3_MAX_MEMBERS_PER_ROOM',
] as const;

/** Bare specifiers other than `@p3/*` stay external (as in scripts/build.ts): they resolve from node_modules. */
const externalPackages: Plugin = {
  name: 'external-packages',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) =>
      args.path.startsWith('@p3/') ? undefined : { path: args.path, external: true },
    );
  },
};

/**
 * The production build (`scripts/build.ts --out`) and the bench world bundled as a module, in a temporary directory
 * under node_modules/.cache (inside the repository, so the build's external packages resolve). Made once per bench
 * run, removed by `remove`.
 */
export class ClusterBuild {
  private constructor(
    readonly dir: string,
    /** The bench world as a plain ES module: the simulators' `P3_WORLD_MODULE`. */
    readonly worldModule: string,
  ) {}

  /** `dirPrefix` names the directory: tests that check their own builds are gone tell theirs apart by it. */
  static async create(dirPrefix = 'p3-arena-cluster-'): Promise<ClusterBuild> {
    const cache = join(repoRoot, 'node_modules', '.cache');
    await mkdir(cache, { recursive: true });
    const dir = await mkdtemp(join(cache, dirPrefix));
    try {
      await runBuildScript(dir);
      const worldModule = join(dir, 'arena-bench-world.mjs');
      await build({
        entryPoints: [scriptPath('./arena-bench-world.ts')],
        outfile: worldModule,
        bundle: true,
        platform: 'node',
        format: 'esm',
        target: 'node20',
        logLevel: 'warning',
        plugins: [externalPackages],
      });
      return new ClusterBuild(dir, worldModule);
    } catch (error) {
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
  }

  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** `node --import tsx scripts/build.ts --out DIR`; rejects with its output when it fails. */
async function runBuildScript(out: string): Promise<void> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/build.ts', '--out', out], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  if (code !== 0)
    throw new Error(`the cluster build (scripts/build.ts) failed with code ${code}:\n${output}`);
}

/** A process measured by its pid. */
export interface NamedPid {
  readonly name: string;
  readonly pid: number;
}

/** One running bench cluster. */
export interface BenchCluster {
  /** Subject and key prefix, stem of the stream, consumer and schema names. */
  readonly prefix: string;
  readonly gateways: readonly ClusterProcess[];
  readonly simulators: readonly ClusterProcess[];
  /** Every process of the cluster (gateways, simulators, persister): their CPU is the server's. */
  readonly processes: readonly NamedPid[];
  /** The NATS and Redis servers when their pid was found (`pgrep -x`): measured beside the cluster. */
  readonly services: readonly NamedPid[];
  /** The bench's own connections to the cluster's NATS, Redis and Postgres (to measure them); closed by `stop`. */
  readonly nats: NatsConnection;
  readonly redis: Redis;
  readonly pool: pg.Pool;
  /** The cluster's Postgres schema (`P3_DATABASE_SCHEMA`). */
  readonly schema: string;
  /** Throws (with its output's tail) when a process of the cluster has exited. */
  check(): void;
  /** Stops the processes and removes the streams, the schema and the Redis keys of this cluster. */
  stop(): Promise<void>;
}

/** Connections to NATS, Redis and Postgres: for the clean-up, and to fail early with a clear message. */
interface Backends {
  readonly nats: NatsConnection;
  readonly redis: Redis;
  readonly pool: pg.Pool;
}

async function connectBackends(): Promise<Backends> {
  const opened: Array<() => Promise<unknown>> = [];
  const closeOpened = () => Promise.all(opened.map((close) => close().catch(() => undefined)));
  try {
    const nats = await connect({ servers: natsServers, reconnect: false, timeout: 2000 }).catch(
      (error: unknown) => {
        throw new Error(`p3-cluster needs NATS with JetStream at ${natsServers}: ${String(error)}`);
      },
    );
    opened.push(() => nats.close());
    const redis = new Redis({ ...redisOptions, lazyConnect: true, maxRetriesPerRequest: 1 });
    opened.push(async () => redis.disconnect());
    await redis.connect().catch((error: unknown) => {
      throw new Error(`p3-cluster needs Redis at 127.0.0.1:6379: ${String(error)}`);
    });
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
    pool.on('error', () => undefined);
    opened.push(() => pool.end());
    await pool.query('SELECT 1').catch((error: unknown) => {
      throw new Error(`p3-cluster needs Postgres at ${databaseUrl}: ${String(error)}`);
    });
    return { nats, redis, pool };
  } catch (error) {
    await closeOpened();
    throw error;
  }
}

/** The pid of a process by its exact name (`pgrep -x`), or undefined (none, or no pgrep). */
function pidOf(name: string): number | undefined {
  try {
    const first = execFileSync('pgrep', ['-x', name], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    })
      .split('\n')[0]
      ?.trim();
    const pid = Number(first);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Starts a cluster of the build running the bench world at `tickRate`: the persister, then both simulators and both
 * gateways (as `startCluster` does, each service given only the variables it reads). Gateways never throttle the
 * bench (rate limits raised as in `p3-arena-server.ts`). Lines the processes log at error level go to `log`.
 */
export async function startBenchCluster(
  clusterBuild: ClusterBuild,
  tickRate: number,
  log: (line: string) => void,
  /** `--cpu-prof DIR`: every cluster process writes its V8 CPU profile there when it exits. */
  cpuProfDir?: string,
  /** Settings added to the simulators' (a scenario's limits), and the stem of the prefix (default `p3bench`). */
  extra: { readonly simulatorEnv?: Readonly<Record<string, string>>; readonly prefixStem?: string } = {},
): Promise<BenchCluster> {
  const basePort = await freeBasePort();
  const backends = await connectBackends();
  const prefix = `${extra.prefixStem ?? 'p3bench'}${randomBytes(4).toString('hex')}`;
  const common: ClusterOptions = {
    dist: clusterBuild.dir,
    basePort,
    prefix,
    ...(cpuProfDir === undefined ? {} : { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`] }),
    onOutput: (name, line) => {
      if (/"level":(50|60)/.test(line)) log(`[${name}] ${line}`);
    },
  };
  const forwarded: Record<string, string> = {};
  for (const name of forwardedSimulatorSettings) {
    const value = process.env[name];
    if (value !== undefined) forwarded[name] = value;
  }
  const env: Record<ServiceName, Record<string, string>> = {
    gateway: {
      P3_LOG_LEVEL: 'warn',
      // Clients send 20 messages per second: the bench must never be throttled by a limit, only by the work.
      P3_RATE_LIMIT_PER_SECOND: '10000',
      P3_RATE_LIMIT_BURST: '20000',
      P3_RATE_LIMIT_CLOSE_AFTER: '1000000',
    },
    simulator: {
      P3_LOG_LEVEL: 'warn',
      P3_DATABASE_URL: databaseUrl,
      P3_WORLD_MODULE: clusterBuild.worldModule,
      ...forwarded,
      ...extra.simulatorEnv,
      P3_TICK_RATE: String(tickRate),
    },
    persister: { P3_LOG_LEVEL: 'warn', P3_DATABASE_URL: databaseUrl },
  };
  const start = (service: ServiceName, index: number): Promise<ClusterProcess> =>
    startClusterProcess({ ...common, env: env[service] }, service, index, 30_000);
  const started: ClusterProcess[] = [];
  // Our exit (the bench's overall time limit, Ctrl-C) must not leave the cluster running: its processes do not
  // watch their parent the way the bench's own children do.
  const killAll = (): void => {
    for (const p of started)
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    killAll();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.on('exit', killAll);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const removeAll = async (signal: NodeJS.Signals): Promise<void> => {
    await stopCluster(started, signal);
    process.off('exit', killAll);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanUp(backends, common, prefix);
  };
  try {
    // The persister first (it creates the schema), then the rest together.
    started.push(await start('persister', 1));
    const rest = await Promise.allSettled([
      start('simulator', 1),
      start('simulator', 2),
      start('gateway', 1),
      start('gateway', 2),
    ]);
    for (const result of rest) if (result.status === 'fulfilled') started.push(result.value);
    const failed = rest.find((result) => result.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
  } catch (error) {
    await removeAll('SIGKILL');
    throw error;
  }
  const of = (service: ServiceName) =>
    started.filter((p) => p.service === service).sort((a, b) => a.index - b.index);
  const order: readonly ServiceName[] = ['gateway', 'simulator', 'persister'];
  const processes = order.flatMap(of).map((p) => ({ name: p.name, pid: p.child.pid as number }));
  const services: NamedPid[] = [];
  for (const name of ['nats-server', 'redis-server']) {
    const pid = pidOf(name);
    if (pid !== undefined) services.push({ name, pid });
  }
  return {
    prefix,
    gateways: of('gateway'),
    simulators: of('simulator'),
    processes,
    services,
    nats: backends.nats,
    redis: backends.redis,
    pool: backends.pool,
    schema: clusterEnv(common, 'simulator').P3_DATABASE_SCHEMA ?? 'public',
    check() {
      const gone = started.find((p) => p.child.exitCode !== null || p.child.signalCode !== null);
      if (gone) {
        const code = gone.child.exitCode ?? gone.child.signalCode;
        throw new Error(`${gone.name} of the bench cluster exited (${code}):\n${gone.output().slice(-4000)}`);
      }
    },
    stop: () => removeAll('SIGTERM'),
  };
}

/** Removes what a cluster of `prefix` made: its two streams, its schema and its Redis keys; closes the connections. */
async function cleanUp(backends: Backends, options: ClusterOptions, prefix: string): Promise<void> {
  const { nats, redis, pool } = backends;
  try {
    const env = clusterEnv(options, 'simulator');
    const jsm = await jetstreamManager(nats);
    for (const stream of [env.P3_SNAPSHOT_STREAM, env.P3_LOG_STREAM])
      if (stream) await jsm.streams.delete(stream).catch(() => undefined);
    const schema = env.P3_DATABASE_SCHEMA;
    if (schema && /^[a-z_][a-z0-9_]*$/.test(schema))
      await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
  } finally {
    await Promise.all([
      nats.close().catch(() => undefined),
      redis.quit().catch(() => redis.disconnect()),
      pool.end().catch(() => undefined),
    ]);
  }
}
