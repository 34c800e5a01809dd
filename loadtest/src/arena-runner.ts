import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  hasRoomLog,
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
import { scrapeServer, windowFigures, type ServerWindowFigures } from './server-metrics.js';
import { isEvent, isPortLine, repoRoot, scriptPath, TsProcess } from './ts-process.js';

/**
 * One server measured under the arena load. CPU figures are % of one core (2 busy cores = 200 %). Ack latency
 * (P3 kinds) is in `load.ackLatencyMs`.
 */
export interface TargetResult {
  readonly kind: ServerKind;
  /** Server process CPU over the measured window (utime + stime from /proc/<pid>/stat). */
  readonly serverCpuPercent: number;
  /** Server VmRSS at the end of the window. */
  readonly serverRssBytes: number;
  /** Server CPU-microseconds per update delivered to a client. */
  readonly cpuMicrosPerUpdate: number;
  /** P3 only: the server's event-loop delay p99 over the window (`nodejs_eventloop_lag_p99_seconds`). */
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
  };
}

interface Sample {
  readonly at: number;
  readonly server: number;
  /** CPU ticks of each load process. */
  readonly loads: readonly number[];
  readonly system: SystemCpu;
}

/**
 * Runs the arena scenario against each target in turn, with the same load: one round (`arena-rounds.ts` runs
 * several). The order of the targets rotates with `round` (see `serverKinds`). `kinds` replaces the kinds
 * `options.target` names (bench:sdk measures its own set).
 */
export async function runArenaBench(
  options: ArenaOptions,
  progress: (line: string) => void = () => undefined,
  round = 0,
  kinds: readonly ServerKind[] | undefined = undefined,
): Promise<ArenaBenchResult> {
  const loadAverageBefore = loadavg();
  const runId = Date.now().toString(36);
  const ranges = splitRooms(options.rooms, options.loadProcs);
  const results: TargetResult[] = [];
  for (const kind of serverKinds(kinds ?? options.target, round)) {
    progress(
      `measuring ${kind}: ${options.rooms} rooms x ${options.clients} clients in ${ranges.length} load processes, ` +
        `${options.warmup} s warm-up, ${options.seconds} s window`,
    );
    results.push(await measureTarget(kind, options, `${runId}-${kind}`, ranges));
  }
  const p3 = results.find((r) => r.kind === Target.P3);
  const p3NoLog = results.find((r) => r.kind === Target.P3NoLog);
  const p3Sdk = results.find((r) => r.kind === Target.P3Sdk);
  const raw = results.find((r) => r.kind === Target.Raw);
  const p99TargetMs = 1000 / options.tickRate + 5;
  const cpuRatio = (a: TargetResult | undefined, b: TargetResult | undefined): number | undefined =>
    a && b ? a.cpuMicrosPerUpdate / b.cpuMicrosPerUpdate : undefined;
  const cpuPerUpdateRatio = cpuRatio(p3, raw);
  const order = (kind: ServerKind): number => serverKindOrder.indexOf(kind);
  return {
    options,
    cores: cpus().length,
    loadProcesses: ranges.length,
    loadAverageBefore,
    loadAverageAfter: loadavg(),
    // One order whatever the order they ran in: the table's columns and the JSON keep one shape.
    results: [...results].sort((a, b) => order(a.kind) - order(b.kind)),
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
    },
  };
}

async function measureTarget(
  kind: ServerKind,
  options: ArenaOptions,
  runId: string,
  ranges: readonly RoomRange[],
): Promise<TargetResult> {
  // P3 with the log writes to a fresh directory per run (no log replay from an earlier one), removed afterwards.
  const dataDir = hasRoomLog(kind)
    ? await mkdtemp(join(options.dataDir ?? tmpdir(), 'p3-arena-'))
    : undefined;
  try {
    return await measureServer(kind, options, runId, ranges, dataDir);
  } finally {
    if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
  }
}

async function measureServer(
  kind: ServerKind,
  options: ArenaOptions,
  runId: string,
  ranges: readonly RoomRange[],
  dataDir: string | undefined,
): Promise<TargetResult> {
  const connectBudgetMs = 30_000 + options.rooms * options.clients * 20;
  const lifetimeSeconds = Math.ceil(options.warmup + options.seconds + connectBudgetMs / 1000 + 60);
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
  try {
    const { port } = await server.next('port line', isPortLine, 30_000);
    // Same run id everywhere: room names are global, so the processes' rooms never meet on the server.
    const loads = ranges.map(
      (range, i) =>
        new TsProcess(`load-${i}`, scriptPath('./arena-load.ts'), [
          ...['--url', `ws://127.0.0.1:${port}`, '--target', kind, '--codec', options.codec],
          ...['--rooms', String(range.count), '--room-offset', String(range.offset)],
          ...['--clients', String(options.clients), '--send-hz', String(options.sendHz)],
          ...['--run-id', runId, '--lifetime', String(lifetimeSeconds)],
        ]),
    );
    try {
      await Promise.all(loads.map((load) => load.next('ready', isEvent('ready'), connectBudgetMs)));
      // This process times the warm-up and the window for all load processes, so they all measure one window.
      await command(loads, 'start', 'sending');
      await sleep(options.warmup * 1000);
      await command(loads, 'measure-start', 'measure-start');
      const before = sample(server.pid, loads);
      // P3's metrics: the loop delay resets at every scrape and the histograms and counters are cumulative, so a
      // scrape at each end of the window gives the window's figures.
      const firstScrape = p3 ? scrapeServer(port) : undefined;
      await sleep(options.seconds * 1000);
      await command(loads, 'measure-end', 'measure-end');
      const after = sample(server.pid, loads);
      const serverRssBytes = processRssBytes(server.pid);
      const serverFigures = p3 ? windowFigures(await firstScrape, await scrapeServer(port)) : undefined;
      // Load processes wait for the window's last acks before they report.
      const summaries = await Promise.all(
        loads.map((load) => load.next('summary', isLoadProcessSummary, 60_000)),
      );
      const latency = mergeHistograms(summaries);
      const load = mergeLoadSummaries(summaries, latency);
      const measured = result(kind, before, after, serverRssBytes, load);
      return {
        ...measured,
        latencyWithTickWaitP99Ms:
          kind === Target.Raw ? latency.quantileWithUniformWait(0.99, 1000 / options.tickRate) : undefined,
        ...serverResult(serverFigures, measured.windowSeconds),
      };
    } finally {
      await Promise.all(loads.map((load) => load.stop()));
    }
  } finally {
    await server.stop();
  }
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

function sample(serverPid: number, loads: readonly TsProcess[]): Sample {
  return {
    at: performance.now(),
    server: processCpuTicks(serverPid),
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
): Omit<TargetResult, keyof ReturnType<typeof serverResult> | 'latencyWithTickWaitP99Ms'> {
  const hz = clockTicksPerSecond();
  const windowSeconds = (after.at - before.at) / 1000;
  const serverSeconds = (after.server - before.server) / hz;
  const perLoadSeconds = after.loads.map((ticks, i) => (ticks - (before.loads[i] ?? 0)) / hz);
  const loadSeconds = perLoadSeconds.reduce((a, b) => a + b, 0);
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
    otherCpuPercent: Math.max(0, (100 * (systemSeconds - serverSeconds - loadSeconds)) / windowSeconds),
    windowSeconds,
    load,
  };
}
