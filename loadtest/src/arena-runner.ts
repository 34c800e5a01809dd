import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ClusterBuild, startBenchCluster, type NamedPid } from './arena-cluster.js';
import {
  hasRoomLog,
  isClusterKind,
  isP3Kind,
  serverKindOrder,
  serverKinds,
  Target,
  type ArenaOptions,
  type ServerKind,
} from './bench-options.js';
import { mergeHistograms, mergeLoadSummaries } from './load-merge.js';
import { isLoadProcessSummary, type LoadSummary } from './load-summary.js';
import {
  clockTicksPerSecond,
  processCpuTicks,
  processRssBytes,
  systemCpu,
  type SystemCpu,
} from './proc-stats.js';
import { bundleForProfile } from './profile-bundle.js';
import { splitRooms, type RoomRange } from './room-ranges.js';
import {
  mergeScrapes,
  scrapeGateway,
  scrapeServer,
  windowFigures,
  type GatewayScrape,
  type ServerWindowFigures,
} from './server-metrics.js';
import { isEvent, isPortLine, repoRoot, scriptPath, TsProcess } from './ts-process.js';

/**
 * One server measured under the arena load. CPU figures are % of one core (2 busy cores = 200 %). Ack latency
 * (P3 kinds) is in `load.ackLatencyMs`.
 */
export interface TargetResult {
  readonly kind: ServerKind;
  /**
   * Server process CPU over the measured window (utime + stime from /proc/<pid>/stat); for `p3-cluster` the sum
   * of its processes (2 gateways, 2 simulators, the persister; NATS and Redis are in `cluster.services`).
   */
  readonly serverCpuPercent: number;
  /** Server VmRSS at the end of the window (`p3-cluster`: the sum of its processes). */
  readonly serverRssBytes: number;
  /** Server CPU-microseconds per update delivered to a client. */
  readonly cpuMicrosPerUpdate: number;
  /**
   * P3 only: the server's event-loop delay p99 over the window (`nodejs_eventloop_lag_p99_seconds`); for
   * `p3-cluster` the worst simulator's (the gateways' are in `cluster.gateways`). The tick, log and ops figures
   * below are the two simulators' histograms and counters added up.
   */
  readonly serverLoopDelayP99Ms: number | undefined;
  /** P3 only: p99 of how late tick timers ran, and of one tick timer's work, over the window (bucket bounds). */
  readonly serverTickLatenessP99Ms: number | undefined;
  readonly serverTickWorkP99Ms: number | undefined;
  /**
   * P3 with the log only, over the window: time from a step appending its record until durable
   * (`p3_simulator_log_append_seconds`; p50/p99 are upper bucket bounds: 0.2, 0.5, 1, 2, 5, 10, 20 ms...; the mean
   * is exact), fdatasync calls per second and records made durable per call (`p3_log_syncs_total`,
   * `p3_log_records_total`), records and bytes per second.
   */
  readonly serverLogAppendP50Ms: number | undefined;
  readonly serverLogAppendP99Ms: number | undefined;
  readonly serverLogAppendMeanMs: number | undefined;
  readonly logSyncsPerSecond: number | undefined;
  readonly logRecordsPerSync: number | undefined;
  readonly logRecordsPerSecond: number | undefined;
  readonly logBytesPerSecond: number | undefined;
  /**
   * P3 only, when the server exports `p3_simulator_ops_late_total` and `p3_simulator_ops_total`: ops applied in
   * the window, and the share of them that arrived after the frame they were stamped for.
   */
  readonly opsPerSecond: number | undefined;
  readonly lateOpsShare: number | undefined;
  /** The load processes over the same window, summed. */
  readonly loadCpuPercent: number;
  /** The same per client: the weight of one client (of the SDK, for `p3-sdk` and `colyseus`). */
  readonly loadCpuPercentPerClient: number;
  /** The busiest load process: near 100 % means it, not the server, may limit the figures. */
  readonly loadCpuPercentMax: number;
  /** Everything else on the machine over the window (other engineers' tests...): the noise indicator. */
  readonly otherCpuPercent: number;
  readonly windowSeconds: number;
  /** Merged over the load processes. */
  readonly load: LoadSummary;
  /**
   * Raw floor only: its latency p99 if every update had also waited for the next tick of a server ticking at the
   * bench's rate (its latencies plus a uniform wait over one interval): the best p99 any ticked server could
   * measure on this machine under this load, one that adds nothing to the floor but the wait.
   */
  readonly latencyWithTickWaitP99Ms: number | undefined;
  /** `p3-cluster` only: its processes one by one, NATS and Redis, and each gateway's traffic over the window. */
  readonly cluster?: ClusterResult;
}

/** One process over the window: CPU in % of one core, VmRSS at the end (undefined when unreadable). */
export interface ProcessFigures {
  readonly name: string;
  readonly cpuPercent: number;
  readonly rssBytes: number | undefined;
}

/** One cluster gateway over the window, from its /metrics at both ends (undefined where a scrape failed). */
export interface GatewayFigures {
  readonly name: string;
  /** Client sockets open at the window's end (`p3_gateway_connections`): half of the load's on each gateway. */
  readonly connections: number | undefined;
  /** Rooms with members on this gateway at the window's end (`p3_gateway_cluster_rooms_served`). */
  readonly roomsServed: number | undefined;
  /** Room output messages (and their payload bytes) taken in from NATS per second. */
  readonly outputMessagesPerSecond: number | undefined;
  readonly outputBytesPerSecond: number | undefined;
  /** Room input batches published to NATS per second (one per room per event-loop turn with input). */
  readonly inputBatchesPerSecond: number | undefined;
  readonly loopDelayP99Ms: number | undefined;
}

/** What `p3-cluster` measures beyond the figures every kind has. */
export interface ClusterResult {
  /** Each process of the cluster: gateway-1, gateway-2, simulator-1, simulator-2, persister-1. */
  readonly processes: readonly ProcessFigures[];
  /** The NATS and Redis servers (`nats-server`, `redis-server`), those whose pid was found; not in the server CPU. */
  readonly services: readonly ProcessFigures[];
  /** CPU-microseconds per delivered update of the cluster's processes plus NATS and Redis. */
  readonly cpuMicrosPerUpdateWithServices: number;
  readonly gateways: readonly GatewayFigures[];
}

export interface ArenaBenchResult {
  readonly options: ArenaOptions;
  readonly cores: number;
  /** Load processes actually run: `options.loadProcs`, at most one per room. */
  readonly loadProcesses: number;
  readonly loadAverageBefore: readonly number[];
  readonly loadAverageAfter: readonly number[];
  readonly results: readonly TargetResult[];
  readonly derived: {
    /** P3 (with the log) CPU per delivered update / raw CPU per delivered update (target: <= 1.5). */
    readonly cpuPerUpdateRatio: number | undefined;
    /** The same for P3 without the log (for comparison; not judged). */
    readonly p3NoLogCpuPerUpdateRatio: number | undefined;
    /** The cost of the log: P3 CPU per delivered update with the log / without it. */
    readonly logCpuCostRatio: number | undefined;
    /** One tick interval + 5 ms. */
    readonly p99TargetMs: number;
    /** The raw floor's latencies plus the wait for a tick (see TargetResult): the p99 a ticked server can reach here. */
    readonly tickedFloorP99Ms: number | undefined;
    /** The verdicts, on P3 with the log. */
    readonly p3MeetsLatency: boolean | undefined;
    readonly p3MeetsCpu: boolean | undefined;
    /** P3 driven by its SDK (`p3-sdk`): CPU per delivered update / raw, and its latency p99 against the same target. */
    readonly p3SdkCpuPerUpdateRatio: number | undefined;
    readonly p3SdkMeetsLatency: boolean | undefined;
    /**
     * `p3-cluster` beside `p3` in the same round: the cluster's latency p50 (and p99) minus the single-process
     * server's, both with the room log and the same clients, world and load: what the NATS hop (gateway -> NATS ->
     * simulator -> NATS -> gateway) adds.
     */
    readonly natsHopLatencyP50Ms: number | undefined;
    readonly natsHopLatencyP99Ms: number | undefined;
    /** The cluster's CPU per delivered update (its five processes) / the single-process server's (`p3`). */
    readonly clusterCpuPerUpdateRatio: number | undefined;
    /** The cluster's latency p99 against the same target (one tick + 5 ms). */
    readonly p3ClusterMeetsLatency: boolean | undefined;
  };
}

interface Sample {
  readonly at: number;
  /** CPU ticks of each server process. */
  readonly servers: readonly number[];
  /** CPU ticks of each service process (undefined when it could not be read). */
  readonly services: ReadonlyArray<number | undefined>;
  /** CPU ticks of each load process. */
  readonly loads: readonly number[];
  readonly system: SystemCpu;
}

/** A server the load runs against: one process, or the cluster. */
interface ServerUnderLoad {
  /** What the load connects to: one URL, or the cluster's gateways (each room's clients alternate over them). */
  readonly urls: readonly string[];
  /** The server's processes: their CPU and RSS add up to the server's. */
  readonly processes: readonly NamedPid[];
  /** Processes the server relies on, measured beside it (NATS, Redis). */
  readonly services: readonly NamedPid[];
  /** Scrapes /metrics at the window's start; the function returned scrapes at its end and gives the window's figures. */
  scrapeWindow(): () => Promise<ServerSide>;
  /** Throws when a server process has died (with what it wrote). */
  check(): void;
  stop(): Promise<void>;
}

interface ServerSide {
  readonly figures: ServerWindowFigures | undefined;
  readonly gateways: ReadonlyArray<{
    readonly name: string;
    readonly start: GatewayScrape | undefined;
    readonly end: GatewayScrape | undefined;
  }>;
}

/**
 * Runs the arena scenario against each target in turn, with the same load: one round (`arena-rounds.ts` runs
 * several). The order of the targets rotates with `round` (see `serverKinds`). `kinds` replaces the kinds
 * `options.target` names (bench:sdk measures its own set). `p3-cluster` runs from `clusterBuild` (made once per
 * bench run by `runArenaRounds`); without one, this round builds its own and removes it afterwards.
 */
export async function runArenaBench(
  options: ArenaOptions,
  progress: (line: string) => void = () => undefined,
  round = 0,
  kinds: readonly ServerKind[] | undefined = undefined,
  clusterBuild: ClusterBuild | undefined = undefined,
): Promise<ArenaBenchResult> {
  const order = serverKinds(kinds ?? options.target, round);
  const ownBuild =
    clusterBuild === undefined && order.some(isClusterKind) ? await buildCluster(progress) : undefined;
  try {
    return await runRound(options, progress, order, clusterBuild ?? ownBuild);
  } finally {
    await ownBuild?.remove();
  }
}

/** Builds the cluster (services and the bench world) for `p3-cluster`. */
export async function buildCluster(progress: (line: string) => void): Promise<ClusterBuild> {
  progress('building the cluster for p3-cluster (scripts/build.ts and the bench world)');
  return ClusterBuild.create();
}

async function runRound(
  options: ArenaOptions,
  progress: (line: string) => void,
  order: readonly ServerKind[],
  clusterBuild: ClusterBuild | undefined,
): Promise<ArenaBenchResult> {
  const loadAverageBefore = loadavg();
  const runId = Date.now().toString(36);
  const ranges = splitRooms(options.rooms, options.loadProcs);
  const results: TargetResult[] = [];
  for (const kind of order) {
    progress(
      `measuring ${kind}: ${options.rooms} rooms x ${options.clients} clients in ${ranges.length} load processes, ` +
        `${options.warmup} s warm-up, ${options.seconds} s window`,
    );
    results.push(await measureTarget(kind, options, `${runId}-${kind}`, ranges, clusterBuild, progress));
  }
  const p3 = results.find((r) => r.kind === Target.P3);
  const p3Cluster = results.find((r) => r.kind === Target.P3Cluster);
  const p3NoLog = results.find((r) => r.kind === Target.P3NoLog);
  const p3Sdk = results.find((r) => r.kind === Target.P3Sdk);
  const raw = results.find((r) => r.kind === Target.Raw);
  const p99TargetMs = 1000 / options.tickRate + 5;
  const cpuRatio = (a: TargetResult | undefined, b: TargetResult | undefined): number | undefined =>
    a && b ? a.cpuMicrosPerUpdate / b.cpuMicrosPerUpdate : undefined;
  const cpuPerUpdateRatio = cpuRatio(p3, raw);
  const latencyAbove = (q: 'p50' | 'p99'): number | undefined =>
    p3 && p3Cluster ? p3Cluster.load.latencyMs[q] - p3.load.latencyMs[q] : undefined;
  const rank = (kind: ServerKind): number => serverKindOrder.indexOf(kind);
  return {
    options,
    cores: cpus().length,
    loadProcesses: ranges.length,
    loadAverageBefore,
    loadAverageAfter: loadavg(),
    // One order whatever the order they ran in: the table's columns and the JSON keep one shape.
    results: [...results].sort((a, b) => rank(a.kind) - rank(b.kind)),
    derived: {
      cpuPerUpdateRatio,
      p3NoLogCpuPerUpdateRatio: cpuRatio(p3NoLog, raw),
      logCpuCostRatio: cpuRatio(p3, p3NoLog),
      p99TargetMs,
      tickedFloorP99Ms: raw?.latencyWithTickWaitP99Ms,
      p3MeetsLatency: p3 ? p3.load.latencyMs.p99 <= p99TargetMs : undefined,
      p3MeetsCpu: cpuPerUpdateRatio === undefined ? undefined : cpuPerUpdateRatio <= 1.5,
      p3SdkCpuPerUpdateRatio: cpuRatio(p3Sdk, raw),
      p3SdkMeetsLatency: p3Sdk ? p3Sdk.load.latencyMs.p99 <= p99TargetMs : undefined,
      natsHopLatencyP50Ms: latencyAbove('p50'),
      natsHopLatencyP99Ms: latencyAbove('p99'),
      clusterCpuPerUpdateRatio: cpuRatio(p3Cluster, p3),
      p3ClusterMeetsLatency: p3Cluster ? p3Cluster.load.latencyMs.p99 <= p99TargetMs : undefined,
    },
  };
}

async function measureTarget(
  kind: ServerKind,
  options: ArenaOptions,
  runId: string,
  ranges: readonly RoomRange[],
  clusterBuild: ClusterBuild | undefined,
  progress: (line: string) => void,
): Promise<TargetResult> {
  const connectBudgetMs = 30_000 + options.rooms * options.clients * 20;
  const lifetimeSeconds = Math.ceil(options.warmup + options.seconds + connectBudgetMs / 1000 + 60);
  if (isClusterKind(kind)) {
    if (clusterBuild === undefined) throw new Error(`${kind} needs the cluster build`);
    const server = await startClusterServer(options, clusterBuild, progress);
    return measureServer(kind, options, runId, ranges, server, connectBudgetMs, lifetimeSeconds);
  }
  // P3 with the log writes to a fresh directory per run (no log replay from an earlier one), removed afterwards.
  const dataDir = hasRoomLog(kind)
    ? await mkdtemp(join(options.dataDir ?? tmpdir(), 'p3-arena-'))
    : undefined;
  try {
    const server = await startSingleServer(kind, options, lifetimeSeconds, dataDir);
    return await measureServer(kind, options, runId, ranges, server, connectBudgetMs, lifetimeSeconds);
  } finally {
    if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
  }
}

/** One server process (P3, the raw floor or Colyseus), listening once this resolves. */
async function startSingleServer(
  kind: ServerKind,
  options: ArenaOptions,
  lifetimeSeconds: number,
  dataDir: string | undefined,
): Promise<ServerUnderLoad> {
  const p3 = isP3Kind(kind);
  const server = p3
    ? await startP3Server(options, lifetimeSeconds, dataDir)
    : kind === Target.Colyseus
      ? new TsProcess('colyseus-server', scriptPath('./colyseus-arena-server.ts'), [
          ...['--lifetime', String(lifetimeSeconds), '--tick-rate', String(options.tickRate)],
        ])
      : new TsProcess('raw-server', scriptPath('./raw-uws-server.ts'), [
          '--lifetime',
          String(lifetimeSeconds),
        ]);
  let port: number;
  try {
    ({ port } = await server.next('port line', isPortLine, 30_000));
  } catch (error) {
    await server.stop();
    throw error;
  }
  return {
    urls: [`ws://127.0.0.1:${port}`],
    processes: [{ name: server.name, pid: server.pid }],
    services: [],
    // P3's metrics: the loop delay resets at every scrape and the histograms and counters are cumulative, so a
    // scrape at each end of the window gives the window's figures.
    scrapeWindow: () => {
      const first = p3 ? scrapeServer(port) : undefined;
      return async () => ({
        figures: p3 ? windowFigures(await first, await scrapeServer(port)) : undefined,
        gateways: [],
      });
    },
    check: () => undefined,
    stop: () => server.stop(),
  };
}

/**
 * The cluster (2 gateways, 2 simulators, the persister) of the build, on a prefix of its own: its simulators'
 * metrics add up to one server's, its gateways' are kept one by one.
 */
async function startClusterServer(
  options: ArenaOptions,
  clusterBuild: ClusterBuild,
  progress: (line: string) => void,
): Promise<ServerUnderLoad> {
  const cluster = await startBenchCluster(
    clusterBuild,
    options.tickRate,
    progress,
    options.cpuProf === undefined ? undefined : resolve(options.cpuProf),
  );
  const simulators = async () =>
    mergeScrapes(await Promise.all(cluster.simulators.map((s) => scrapeServer(s.port))));
  const gateways = () => Promise.all(cluster.gateways.map((g) => scrapeGateway(g.port)));
  return {
    urls: cluster.gateways.map((g) => `ws://127.0.0.1:${g.port}`),
    processes: cluster.processes,
    services: cluster.services,
    scrapeWindow: () => {
      const first = Promise.all([simulators(), gateways()]);
      return async () => {
        const [[simulatorsStart, gatewaysStart], [simulatorsEnd, gatewaysEnd]] = await Promise.all([
          first,
          Promise.all([simulators(), gateways()]),
        ]);
        return {
          figures: windowFigures(simulatorsStart, simulatorsEnd),
          gateways: cluster.gateways.map((g, i) => ({
            name: g.name,
            start: gatewaysStart[i],
            end: gatewaysEnd[i],
          })),
        };
      };
    },
    check: () => cluster.check(),
    stop: () => cluster.stop(),
  };
}

/** Runs the load against a started server (stopped at the end, whatever happens) and measures the window. */
async function measureServer(
  kind: ServerKind,
  options: ArenaOptions,
  runId: string,
  ranges: readonly RoomRange[],
  server: ServerUnderLoad,
  connectBudgetMs: number,
  lifetimeSeconds: number,
): Promise<TargetResult> {
  try {
    const loadEntry = await loadScript(options);
    // Same run id everywhere: room names are global, so the processes' rooms never meet on the server.
    const loads = ranges.map(
      (range, i) =>
        new TsProcess(
          `load-${i}`,
          loadEntry.script,
          [
            ...['--url', server.urls.join(','), '--target', kind, '--codec', options.codec],
            ...['--rooms', String(range.count), '--room-offset', String(range.offset)],
            ...['--clients', String(options.clients), '--send-hz', String(options.sendHz)],
            ...['--run-id', runId, '--lifetime', String(lifetimeSeconds)],
          ],
          loadEntry.nodeArgs,
        ),
    );
    try {
      await Promise.all(loads.map((load) => load.next('ready', isEvent('ready'), connectBudgetMs)));
      // This process times the warm-up and the window for all load processes, so they all measure one window.
      await command(loads, 'start', 'sending');
      await sleep(options.warmup * 1000);
      await command(loads, 'measure-start', 'measure-start');
      const before = sample(server, loads);
      const endScrape = server.scrapeWindow();
      await sleep(options.seconds * 1000);
      await command(loads, 'measure-end', 'measure-end');
      // A server process that died in the window would leave nothing to sample, and figures that mean nothing.
      server.check();
      const after = sample(server, loads);
      const rss = server.processes.map((p) => rssOf(p.pid));
      const serverSide = await endScrape();
      // Load processes wait for the window's last acks before they report.
      const summaries = await Promise.all(
        loads.map((load) => load.next('summary', isLoadProcessSummary, 60_000)),
      );
      const latency = mergeHistograms(summaries);
      const load = mergeLoadSummaries(summaries, latency);
      const measured = result(kind, before, after, sumOf(rss), load);
      const cluster = isClusterKind(kind)
        ? clusterResult(server, before, after, rss, serverSide, measured)
        : undefined;
      return {
        ...measured,
        latencyWithTickWaitP99Ms:
          kind === Target.Raw ? latency.quantileWithUniformWait(0.99, 1000 / options.tickRate) : undefined,
        ...serverResult(serverSide.figures, measured.windowSeconds),
        ...(cluster === undefined ? {} : { cluster }),
      };
    } catch (error) {
      // A load that failed because a server process died: say which one, and what it wrote.
      server.check();
      throw error;
    } finally {
      await Promise.all(loads.map((load) => load.stop()));
    }
  } finally {
    await server.stop();
  }
}

const sumOf = (values: ReadonlyArray<number | undefined>): number =>
  values.reduce<number>((a, b) => a + (b ?? 0), 0);

function rssOf(pid: number): number | undefined {
  try {
    return processRssBytes(pid);
  } catch {
    return undefined;
  }
}

function cpuTicksOf(pid: number): number | undefined {
  try {
    return processCpuTicks(pid);
  } catch {
    return undefined;
  }
}

/** The cluster's processes one by one, NATS and Redis, and each gateway's traffic, over the window. */
function clusterResult(
  server: ServerUnderLoad,
  before: Sample,
  after: Sample,
  rss: ReadonlyArray<number | undefined>,
  serverSide: ServerSide,
  measured: Pick<TargetResult, 'windowSeconds' | 'serverCpuPercent' | 'load'>,
): ClusterResult {
  const hz = clockTicksPerSecond();
  const { windowSeconds } = measured;
  const percent = (ticks: number): number => (100 * ticks) / hz / windowSeconds;
  const processes = server.processes.map((p, i) => ({
    name: p.name,
    cpuPercent: percent((after.servers[i] ?? 0) - (before.servers[i] ?? 0)),
    rssBytes: rss[i],
  }));
  const services: ProcessFigures[] = [];
  server.services.forEach((s, i) => {
    const [a, b] = [before.services[i], after.services[i]];
    if (a !== undefined && b !== undefined)
      services.push({ name: s.name, cpuPercent: percent(b - a), rssBytes: rssOf(s.pid) });
  });
  const withServices = measured.serverCpuPercent + services.reduce((total, s) => total + s.cpuPercent, 0);
  const rate = (
    g: ServerSide['gateways'][number],
    pick: (scrape: GatewayScrape) => number | undefined,
  ): number | undefined => {
    const [a, b] = [g.start && pick(g.start), g.end && pick(g.end)];
    return a === undefined || b === undefined ? undefined : (b - a) / windowSeconds;
  };
  return {
    processes,
    services,
    cpuMicrosPerUpdateWithServices:
      measured.load.updatesPerSecond > 0
        ? ((withServices / 100) * 1e6) / measured.load.updatesPerSecond
        : Number.NaN,
    gateways: serverSide.gateways.map((g) => ({
      name: g.name,
      connections: g.end?.connections,
      roomsServed: g.end?.roomsServed,
      outputMessagesPerSecond: rate(g, (s) => s.outputMessages),
      outputBytesPerSecond: rate(g, (s) => s.outputBytes),
      inputBatchesPerSecond: rate(g, (s) => s.inputBatches),
      loopDelayP99Ms: g.end?.loopDelayP99Ms,
    })),
  };
}

/** The P3 server's own figures over the window (all undefined for the raw floor, log figures without a log). */
function serverResult(
  figures: ServerWindowFigures | undefined,
  windowSeconds: number,
): Pick<
  TargetResult,
  | 'serverLoopDelayP99Ms'
  | 'serverTickLatenessP99Ms'
  | 'serverTickWorkP99Ms'
  | 'serverLogAppendP50Ms'
  | 'serverLogAppendP99Ms'
  | 'serverLogAppendMeanMs'
  | 'logSyncsPerSecond'
  | 'logRecordsPerSync'
  | 'logRecordsPerSecond'
  | 'logBytesPerSecond'
  | 'opsPerSecond'
  | 'lateOpsShare'
> {
  const perSecond = (n: number | undefined): number | undefined =>
    n === undefined ? undefined : n / windowSeconds;
  const syncs = figures?.logSyncs;
  const records = figures?.logRecords;
  return {
    serverLoopDelayP99Ms: figures?.loopDelayP99Ms,
    serverTickLatenessP99Ms: figures?.tickLatenessP99Ms,
    serverTickWorkP99Ms: figures?.tickWorkP99Ms,
    serverLogAppendP50Ms: figures?.logAppendP50Ms,
    serverLogAppendP99Ms: figures?.logAppendP99Ms,
    serverLogAppendMeanMs: figures?.logAppendMeanMs,
    logSyncsPerSecond: perSecond(syncs),
    logRecordsPerSync:
      syncs !== undefined && syncs > 0 && records !== undefined ? records / syncs : undefined,
    logRecordsPerSecond: perSecond(records),
    logBytesPerSecond: perSecond(figures?.logBytes),
    opsPerSecond: perSecond(figures?.ops),
    lateOpsShare:
      figures?.ops !== undefined && figures.ops > 0 && figures.lateOps !== undefined
        ? figures.lateOps / figures.ops
        : undefined,
  };
}

/** Sends `cmd` to every load process, then waits until each has answered with `reply`. */
async function command(loads: readonly TsProcess[], cmd: string, reply: string): Promise<void> {
  for (const load of loads) load.send({ cmd });
  await Promise.all(loads.map((load) => load.next(reply, isEvent(reply), 30_000)));
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The P3 server process: with the log (file storage in `dataDir`) or without (memory storage, `dataDir`
 * undefined). With `--cpu-prof` it runs from a bundle with a source map (so the profile maps back to TypeScript
 * lines), placed under node_modules/.cache so that its external packages resolve from the workspace.
 */
async function startP3Server(
  options: ArenaOptions,
  lifetimeSeconds: number,
  dataDir: string | undefined,
): Promise<TsProcess> {
  const args = [
    ...['--lifetime', String(lifetimeSeconds), '--tick-rate', String(options.tickRate)],
    ...(dataDir === undefined ? ['--storage', 'memory'] : ['--storage', 'file', '--data-dir', dataDir]),
  ];
  const entry = scriptPath('./p3-arena-server.ts');
  if (options.cpuProf === undefined) return new TsProcess('p3-server', entry, args);
  const bundle = await bundleForProfile(entry, join(repoRoot, 'node_modules', '.cache', 'p3-loadtest'));
  return new TsProcess('p3-server', bundle, args, ['--cpu-prof', '--cpu-prof-dir', resolve(options.cpuProf)]);
}

/**
 * The load process's script: arena-load.ts under tsx, or with `--load-cpu-prof` a bundle with a source map run
 * under `node --cpu-prof` (as the P3 server's with `--cpu-prof`), so the profile maps back to TypeScript lines.
 */
async function loadScript(options: ArenaOptions): Promise<{ script: string; nodeArgs: string[] }> {
  const entry = scriptPath('./arena-load.ts');
  if (options.loadCpuProf === undefined) return { script: entry, nodeArgs: [] };
  // One bundle for every target and round of the run: the load's code does not change in between.
  loadBundle ??= bundleForProfile(entry, join(repoRoot, 'node_modules', '.cache', 'p3-loadtest'));
  return {
    script: await loadBundle,
    nodeArgs: ['--cpu-prof', '--cpu-prof-dir', resolve(options.loadCpuProf)],
  };
}
let loadBundle: Promise<string> | undefined;

function sample(server: ServerUnderLoad, loads: readonly TsProcess[]): Sample {
  return {
    at: performance.now(),
    servers: server.processes.map((p) => processCpuTicks(p.pid)),
    services: server.services.map((p) => cpuTicksOf(p.pid)),
    loads: loads.map((load) => processCpuTicks(load.pid)),
    system: systemCpu(),
  };
}

function result(
  kind: ServerKind,
  before: Sample,
  after: Sample,
  serverRssBytes: number,
  load: LoadSummary,
): Omit<TargetResult, keyof ReturnType<typeof serverResult> | 'latencyWithTickWaitP99Ms' | 'cluster'> {
  const hz = clockTicksPerSecond();
  const windowSeconds = (after.at - before.at) / 1000;
  const serverSeconds = (sumOf(after.servers) - sumOf(before.servers)) / hz;
  const perLoadSeconds = after.loads.map((ticks, i) => (ticks - (before.loads[i] ?? 0)) / hz);
  const loadSeconds = perLoadSeconds.reduce((a, b) => a + b, 0);
  // NATS and Redis (p3-cluster) are part of what is measured, not noise: left out of "other processes".
  const serviceSeconds =
    after.services.reduce<number>((total, ticks, i) => {
      const start = before.services[i];
      return ticks === undefined || start === undefined ? total : total + ticks - start;
    }, 0) / hz;
  const systemSeconds = (after.system.busy - before.system.busy) / hz;
  return {
    kind,
    serverCpuPercent: (100 * serverSeconds) / windowSeconds,
    serverRssBytes,
    // CPU per second over updates per second: both rates, so the few ms between the two windows cancel out.
    cpuMicrosPerUpdate:
      load.updatesPerSecond > 0
        ? ((serverSeconds / windowSeconds) * 1e6) / load.updatesPerSecond
        : Number.NaN,
    loadCpuPercent: (100 * loadSeconds) / windowSeconds,
    loadCpuPercentPerClient: (100 * loadSeconds) / windowSeconds / load.connections,
    loadCpuPercentMax: (100 * Math.max(...perLoadSeconds)) / windowSeconds,
    otherCpuPercent: Math.max(
      0,
      (100 * (systemSeconds - serverSeconds - loadSeconds - serviceSeconds)) / windowSeconds,
    ),
    windowSeconds,
    load,
  };
}
