import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { Codec, intFlag, numberFlag, oneOf } from './bench-options.js';
import { isIdleLoadSummary, mergeIdleWindows, type IdleLoadSummary } from './idle-counts.js';
import { clockTicksPerSecond, processCpuTicks, systemCpu } from './proc-stats.js';
import { splitRooms } from './room-ranges.js';
import { isEvent, isPortLine, scriptPath, TsProcess } from './ts-process.js';

/** The idle scenario: R rooms x C joined clients that send nothing after their join. */
export interface IdleBenchOptions {
  readonly rooms: number;
  readonly clients: number;
  /** Length of the measured window (s). */
  readonly seconds: number;
  /** Time between "every client joined" and the window (s): the join burst settles. */
  readonly warmup: number;
  readonly codec: Codec;
  readonly tickRate: number;
  /** Load processes sharing the rooms (whole rooms each). */
  readonly loadProcs: number;
  readonly jsonOnly: boolean;
}

/** The scenario: 5,000 clients in 50 rooms, on a 2-core machine. */
export const defaultIdleBenchOptions: IdleBenchOptions = {
  rooms: 50,
  clients: 100,
  seconds: 10,
  warmup: 3,
  codec: Codec.Binary,
  tickRate: 30,
  loadProcs: 2,
  jsonOnly: false,
};

/** The targets: an idle room costs the server at most this share of a core, a client at most this many messages. */
export const idleTargets = { serverCpuPercent: 10, messagesPerClientPerSecond: 2 } as const;

export interface IdleBenchResult {
  readonly options: IdleBenchOptions;
  readonly cores: number;
  readonly connections: number;
  /** Time until every client of every load process had its welcome (ms, the slowest process). */
  readonly connectMs: number;
  readonly windowSeconds: number;
  /** Server process CPU over the window, % of one core (utime + stime of /proc/<pid>/stat). */
  readonly serverCpuPercent: number;
  readonly messagesPerClientPerSecond: number;
  readonly bytesPerClientPerSecond: number;
  /** Messages per client per second by type (`frame`, `idle`, ...). */
  readonly byTypePerClientPerSecond: Readonly<Record<string, number>>;
  /** The load processes over the window, summed (% of one core). */
  readonly loadCpuPercent: number;
  /** Everything else on the machine over the window (the noise indicator), % of one core. */
  readonly otherCpuPercent: number;
  readonly loadAverageBefore: readonly number[];
  readonly unexpectedCloses: number;
  readonly meetsServerCpu: boolean;
  readonly meetsMessages: boolean;
}

/** Parses `--rooms --clients --seconds --warmup --codec --tick-rate --load-procs --json`; bad values throw, all at once. */
export function parseIdleBenchOptions(argv: readonly string[]): IdleBenchOptions {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      rooms: { type: 'string' },
      clients: { type: 'string' },
      seconds: { type: 'string' },
      warmup: { type: 'string' },
      codec: { type: 'string' },
      'tick-rate': { type: 'string' },
      'load-procs': { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  const problems: string[] = [];
  const d = defaultIdleBenchOptions;
  const options: IdleBenchOptions = {
    rooms: intFlag(values.rooms, 'rooms', d.rooms, 1, 10_000, problems),
    clients: intFlag(values.clients, 'clients', d.clients, 1, 10_000, problems),
    seconds: numberFlag(values.seconds, 'seconds', d.seconds, 0.5, 3600, problems),
    warmup: numberFlag(values.warmup, 'warmup', d.warmup, 0, 600, problems),
    codec: oneOf(values.codec, 'codec', Object.values(Codec), d.codec, problems),
    tickRate: intFlag(values['tick-rate'], 'tick-rate', d.tickRate, 1, 240, problems),
    loadProcs: intFlag(values['load-procs'], 'load-procs', d.loadProcs, 1, 64, problems),
    jsonOnly: values.json ?? false,
  };
  if (problems.length > 0) throw new Error(`bad arguments: ${problems.join('; ')}`);
  return options;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Starts the idle server and the load processes, waits until every client joined and the warm-up passed, then
 * measures the server's CPU and what the clients receive over the window. Every process is stopped afterwards.
 */
export async function runIdleBench(
  options: IdleBenchOptions,
  log: (line: string) => void = () => undefined,
): Promise<IdleBenchResult> {
  const total = options.rooms * options.clients;
  const lifetime = String(Math.ceil(options.warmup + options.seconds + 120 + total / 50));
  const server = new TsProcess('idle-server', scriptPath('idle-server.ts'), [
    '--tick-rate',
    String(options.tickRate),
    '--rooms',
    String(options.rooms),
    '--clients',
    String(options.clients),
    '--lifetime',
    lifetime,
  ]);
  const loads: TsProcess[] = [];
  try {
    const { port } = await server.next('port line', isPortLine, 30_000);
    const runId = Date.now().toString(36);
    for (const [i, range] of splitRooms(options.rooms, options.loadProcs).entries()) {
      loads.push(
        new TsProcess(`idle-load-${i}`, scriptPath('idle-load.ts'), [
          '--url',
          `ws://127.0.0.1:${port}`,
          '--codec',
          options.codec,
          '--rooms',
          String(range.count),
          '--room-offset',
          String(range.offset),
          '--clients',
          String(options.clients),
          '--run-id',
          runId,
          '--lifetime',
          lifetime,
        ]),
      );
    }
    log(`idle bench: ${total} clients in ${options.rooms} rooms, ${loads.length} load processes: joining`);
    const joinTimeout = 60_000 + total * 20;
    const ready = await Promise.all(
      loads.map((l) =>
        l.next('ready', (v): v is { event: 'ready'; connectMs: number } => isEvent('ready')(v), joinTimeout),
      ),
    );
    const connectMs = Math.max(...ready.map((r) => r.connectMs));
    log(`idle bench: joined in ${connectMs} ms; warm-up ${options.warmup} s, window ${options.seconds} s`);
    await sleep(options.warmup * 1000);
    const loadAverageBefore = loadavg();
    const loadPids = loads.map((l) => l.pid);
    for (const l of loads) l.send({ cmd: 'measure-start' });
    await Promise.all(loads.map((l) => l.next('measure-start', isEvent('measure-start'), 10_000)));
    const start = { at: performance.now(), server: processCpuTicks(server.pid), system: systemCpu() };
    const loadStart = loadPids.map(processCpuTicks);
    await sleep(options.seconds * 1000);
    const end = { at: performance.now(), server: processCpuTicks(server.pid), system: systemCpu() };
    const loadEnd = loadPids.map(processCpuTicks);
    for (const l of loads) l.send({ cmd: 'measure-end' });
    const summaries = await Promise.all(loads.map((l) => l.next('summary', isIdleLoadSummary, 30_000)));
    return idleResult(options, summaries, {
      connectMs,
      seconds: (end.at - start.at) / 1000,
      serverTicks: end.server - start.server,
      loadTicks: loadEnd.reduce((a, t, i) => a + t - (loadStart[i] ?? 0), 0),
      systemBusyTicks: end.system.busy - start.system.busy,
      loadAverageBefore,
    });
  } finally {
    await Promise.all([...loads, server].map((p) => p.stop()));
  }
}

interface Measured {
  readonly connectMs: number;
  readonly seconds: number;
  readonly serverTicks: number;
  readonly loadTicks: number;
  readonly systemBusyTicks: number;
  readonly loadAverageBefore: readonly number[];
}

function idleResult(
  options: IdleBenchOptions,
  summaries: readonly IdleLoadSummary[],
  m: Measured,
): IdleBenchResult {
  const merged = mergeIdleWindows(summaries);
  const perCore = (ticks: number): number => (ticks / clockTicksPerSecond() / m.seconds) * 100;
  const clientSeconds = Math.max(1, merged.connections) * (merged.windowMs / 1000);
  const serverCpuPercent = perCore(m.serverTicks);
  const messagesPerClientPerSecond = merged.messages / clientSeconds;
  const byTypePerClientPerSecond: Record<string, number> = {};
  for (const [type, n] of Object.entries(merged.byType)) byTypePerClientPerSecond[type] = n / clientSeconds;
  return {
    options,
    cores: cpus().length,
    connections: merged.connections,
    connectMs: m.connectMs,
    windowSeconds: m.seconds,
    serverCpuPercent,
    messagesPerClientPerSecond,
    bytesPerClientPerSecond: merged.bytes / clientSeconds,
    byTypePerClientPerSecond,
    loadCpuPercent: perCore(m.loadTicks),
    otherCpuPercent: Math.max(0, perCore(m.systemBusyTicks - m.serverTicks - m.loadTicks)),
    loadAverageBefore: m.loadAverageBefore,
    unexpectedCloses: merged.unexpectedCloses,
    meetsServerCpu: serverCpuPercent <= idleTargets.serverCpuPercent,
    meetsMessages: messagesPerClientPerSecond <= idleTargets.messagesPerClientPerSecond,
  };
}

const round = (n: number, digits = 1): string => n.toFixed(digits);

/** The human-readable report: figures, then the targets' verdicts. */
export function formatIdleReport(r: IdleBenchResult): string {
  const types = Object.entries(r.byTypePerClientPerSecond)
    .sort((a, b) => b[1] - a[1])
    .map(([type, n]) => `${type} ${round(n, 2)}`)
    .join(', ');
  const verdict = (ok: boolean): string => (ok ? 'met' : 'NOT met');
  return [
    `idle bench: ${r.connections} joined clients in ${r.options.rooms} rooms sending nothing, ticks at ${r.options.tickRate} Hz, ${r.options.codec}, ${r.windowSeconds.toFixed(1)} s window (${r.cores} cores, load average ${r.loadAverageBefore.map((l) => round(l, 2)).join(' ')})`,
    `server CPU                      ${round(r.serverCpuPercent)} % of a core`,
    `messages per client per second  ${round(r.messagesPerClientPerSecond, 2)} (${types || 'none'})`,
    `bytes per client per second     ${round(r.bytesPerClientPerSecond)}`,
    `load processes CPU              ${round(r.loadCpuPercent)} % (other processes: ${round(r.otherCpuPercent)} %)`,
    `joins                           ${r.connectMs} ms; unexpected closes ${r.unexpectedCloses}`,
    `target: server <= ${idleTargets.serverCpuPercent} % of a core: ${verdict(r.meetsServerCpu)}`,
    `target: <= ${idleTargets.messagesPerClientPerSecond} messages per idle client per second: ${verdict(r.meetsMessages)}`,
  ].join('\n');
}

export function formatIdleJsonLine(r: IdleBenchResult): string {
  return JSON.stringify({ bench: 'idle', ...r });
}
