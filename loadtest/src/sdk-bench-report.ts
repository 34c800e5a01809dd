import { brokenRound, median, medianRound, soundRounds } from './arena-rounds.js';
import type { ArenaBenchResult, TargetResult } from './arena-runner.js';
import { Target, type ServerKind } from './bench-options.js';
import { heapBytesPer, kindNames } from './bench-report.js';
import { sdkBenchKinds } from './sdk-bench-options.js';

/** What the targets compare, for one round (or the medians over the rounds). */
export interface SdkRoundFigures {
  readonly p3LatencyP50Ms: number | undefined;
  readonly p3LatencyP99Ms: number | undefined;
  readonly colyseusLatencyP50Ms: number | undefined;
  readonly colyseusLatencyP99Ms: number | undefined;
  readonly rawLatencyP99Ms: number | undefined;
  /** Load-process CPU (% of one core) per client: the weight of one SDK client. */
  readonly p3LoadCpuPerClient: number | undefined;
  readonly colyseusLoadCpuPerClient: number | undefined;
  readonly p3BytesPerClientPerSecond: number | undefined;
  readonly colyseusBytesPerClientPerSecond: number | undefined;
  /** Heap bytes the load processes allocated per delivered update. */
  readonly p3HeapBytesPerUpdate: number | undefined;
  readonly colyseusHeapBytesPerUpdate: number | undefined;
  /** Server CPU-us per delivered update. */
  readonly p3CpuMicrosPerUpdate: number | undefined;
  readonly colyseusCpuMicrosPerUpdate: number | undefined;
  readonly rawCpuMicrosPerUpdate: number | undefined;
  readonly p3LateOpsShare: number | undefined;
  /** The largest of the windows' "other processes" CPU: how noisy the round was. */
  readonly otherCpuPercent: number;
  /** Why the round is left out of the medians (see `brokenRound`); undefined for a sound round. */
  readonly broken?: string;
}

/** A verdict: met, missed, or not judged (a figure is missing: that server was not measured). */
export type Verdict = boolean | undefined;

export interface SdkBenchResult {
  readonly rounds: readonly ArenaBenchResult[];
  readonly figures: readonly SdkRoundFigures[];
  readonly median: SdkRoundFigures;
  /** The round whose P3 SDK latency p99 is the median: its table is printed. */
  readonly representative: number;
  readonly verdicts: {
    /** P3 SDK p99 <= Colyseus p99 + 5 ms. */
    readonly latency: Verdict;
    /** P3 SDK load CPU per client <= Colyseus SDK's. */
    readonly sdkCpu: Verdict;
    /** P3 SDK bytes received per client <= 0.5 x Colyseus's. */
    readonly bytes: Verdict;
    /** P3 server CPU per delivered update <= 1.5 x the raw uWS floor's. */
    readonly serverCpu: Verdict;
  };
}

const fmt = (n: number | undefined, digits = 0): string =>
  n === undefined || !Number.isFinite(n)
    ? '-'
    : n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

const verdictText = (v: Verdict): string => (v === undefined ? 'not judged' : v ? 'met' : 'MISSED');

/** The figures of one round. */
export function sdkRoundFigures(round: ArenaBenchResult): SdkRoundFigures {
  const of = (kind: ServerKind): TargetResult | undefined => round.results.find((r) => r.kind === kind);
  const p3 = of(Target.P3Sdk);
  const colyseus = of(Target.Colyseus);
  const raw = of(Target.Raw);
  const broken = brokenRound(round);
  return {
    p3LatencyP50Ms: p3?.load.latencyMs.p50,
    p3LatencyP99Ms: p3?.load.latencyMs.p99,
    colyseusLatencyP50Ms: colyseus?.load.latencyMs.p50,
    colyseusLatencyP99Ms: colyseus?.load.latencyMs.p99,
    rawLatencyP99Ms: raw?.load.latencyMs.p99,
    p3LoadCpuPerClient: p3?.loadCpuPercentPerClient,
    colyseusLoadCpuPerClient: colyseus?.loadCpuPercentPerClient,
    p3BytesPerClientPerSecond: p3?.load.bytesPerClientPerSecond,
    colyseusBytesPerClientPerSecond: colyseus?.load.bytesPerClientPerSecond,
    p3HeapBytesPerUpdate: p3 && heapBytesPer(p3, 'update'),
    colyseusHeapBytesPerUpdate: colyseus && heapBytesPer(colyseus, 'update'),
    p3CpuMicrosPerUpdate: p3?.cpuMicrosPerUpdate,
    colyseusCpuMicrosPerUpdate: colyseus?.cpuMicrosPerUpdate,
    rawCpuMicrosPerUpdate: raw?.cpuMicrosPerUpdate,
    p3LateOpsShare: p3?.lateOpsShare,
    otherCpuPercent: Math.max(0, ...round.results.map((r) => r.otherCpuPercent)),
    ...(broken === undefined ? {} : { broken }),
  };
}

/** Medians over the rounds, and the four verdicts judged on them. */
export function summarizeSdkRounds(rounds: readonly ArenaBenchResult[]): SdkBenchResult {
  if (rounds.length === 0) throw new Error('no rounds to summarize');
  const figures = rounds.map(sdkRoundFigures);
  const sound = soundRounds(figures);
  const keys = (Object.keys(figures[0] as SdkRoundFigures) as Array<keyof SdkRoundFigures>).filter(
    (key) => key !== 'broken',
  );
  const med = Object.fromEntries(
    keys.map((key) => [
      key,
      median(sound.map((f) => f[key]).filter((v): v is number => typeof v === 'number')),
    ]),
  ) as unknown as SdkRoundFigures;
  const both = (
    a: number | undefined,
    b: number | undefined,
    ok: (a: number, b: number) => boolean,
  ): Verdict => (a === undefined || b === undefined ? undefined : ok(a, b));
  const representative = medianRound(
    figures,
    sound,
    (f) => f.p3LatencyP99Ms ?? f.colyseusLatencyP99Ms ?? f.rawLatencyP99Ms ?? 0,
  );
  return {
    rounds,
    figures,
    median: { ...med, otherCpuPercent: med.otherCpuPercent ?? 0 },
    representative,
    verdicts: {
      latency: both(med.p3LatencyP99Ms, med.colyseusLatencyP99Ms, (p3, c) => p3 <= c + 5),
      sdkCpu: both(med.p3LoadCpuPerClient, med.colyseusLoadCpuPerClient, (p3, c) => p3 <= c),
      bytes: both(
        med.p3BytesPerClientPerSecond,
        med.colyseusBytesPerClientPerSecond,
        (p3, c) => p3 <= 0.5 * c,
      ),
      serverCpu: both(med.p3CpuMicrosPerUpdate, med.rawCpuMicrosPerUpdate, (p3, raw) => p3 <= 1.5 * raw),
    },
  };
}

/** The table of one round: one column per server. */
function formatRound(bench: ArenaBenchResult): string {
  const { options: o } = bench;
  // The SDKs side by side, then the floor (the arena's order puts raw before Colyseus).
  const order = (r: TargetResult): number => sdkBenchKinds.indexOf(r.kind) + 1 || sdkBenchKinds.length + 1;
  const results = [...bench.results].sort((a, b) => order(a) - order(b));
  const rows: Array<[string, (r: TargetResult) => string]> = [
    ['latency p50 (ms)', (r) => fmt(r.load.latencyMs.p50, 2)],
    ['latency p90 (ms)', (r) => fmt(r.load.latencyMs.p90, 2)],
    ['latency p99 (ms)', (r) => fmt(r.load.latencyMs.p99, 2)],
    ['latency max (ms)', (r) => fmt(r.load.latencyMs.max, 2)],
    [`load CPU % (sum of ${bench.loadProcesses} processes)`, (r) => fmt(r.loadCpuPercent, 1)],
    ['load CPU % per client', (r) => fmt(r.loadCpuPercentPerClient, 3)],
    ['busiest load process CPU %', (r) => fmt(r.loadCpuPercentMax, 1)],
    ['load loop delay p99 (ms, worst)', (r) => fmt(r.load.loadLoopDelayP99Ms, 1)],
    ['load heap B / received message', (r) => fmt(heapBytesPer(r, 'message'), 0)],
    ['load heap B / delivered update', (r) => fmt(heapBytesPer(r, 'update'), 0)],
    ['load GCs / s', (r) => fmt(r.load.gcCount / r.windowSeconds, 1)],
    ['load GC pause ms / s', (r) => fmt(r.load.gcPauseMs / r.windowSeconds, 1)],
    ['bytes / client / s received', (r) => fmt(r.load.bytesPerClientPerSecond)],
    ['messages / client / s received', (r) => fmt(r.load.messagesPerClientPerSecond, 1)],
    ['updates delivered / s', (r) => fmt(r.load.updatesPerSecond)],
    [`updates sent / s (offered ${fmt(o.rooms * o.clients * o.sendHz)})`, (r) => fmt(r.load.sentPerSecond)],
    ['server CPU (% of one core)', (r) => fmt(r.serverCpuPercent, 1)],
    ['server CPU-us / delivered update', (r) => fmt(r.cpuMicrosPerUpdate, 3)],
    ['server tick lateness p99 (ms, <=)', (r) => fmt(r.serverTickLatenessP99Ms, 1)],
    [
      'late ops % (of ops applied)',
      (r) => fmt(r.lateOpsShare === undefined ? undefined : 100 * r.lateOpsShare, 2),
    ],
    ['peers heard (pairs seen/expected)', (r) => `${r.load.pairsSeen}/${r.load.pairsExpected}`],
    ['other processes CPU %', (r) => fmt(r.otherCpuPercent, 1)],
    [
      'rejects/errors/closes',
      (r) => `${r.load.rejects}/${r.load.errors + r.load.decodeErrors}/${r.load.unexpectedCloses}`,
    ],
  ];
  const label = 36;
  const col = 12;
  return [
    `sdk bench: ${o.rooms} rooms x ${o.clients} clients = ${o.rooms * o.clients} clients, ${o.sendHz} Hz updates, ` +
      `${o.tickRate} Hz ticks/patches, ${o.warmup} s warm-up, ${fmt(results[0]?.windowSeconds, 1)} s window, ` +
      `${bench.loadProcesses} load processes`,
    `machine: ${bench.cores} cores, load average before ${bench.loadAverageBefore.map((l) => fmt(l, 2)).join(' ')}, ` +
      `after ${bench.loadAverageAfter.map((l) => fmt(l, 2)).join(' ')}`,
    '',
    ''.padEnd(label) + results.map((r) => kindNames[r.kind].padStart(col)).join(''),
    ...rows.map(([name, value]) => name.padEnd(label) + results.map((r) => value(r).padStart(col)).join('')),
  ].join('\n');
}

const roundColumns: ReadonlyArray<readonly [string, number, (f: SdkRoundFigures) => string]> = [
  ['P3 p99', 8, (f) => fmt(f.p3LatencyP99Ms, 1)],
  ['Col p99', 9, (f) => fmt(f.colyseusLatencyP99Ms, 1)],
  ['raw p99', 9, (f) => fmt(f.rawLatencyP99Ms, 1)],
  ['P3 cpu/cl', 11, (f) => fmt(f.p3LoadCpuPerClient, 3)],
  ['Col cpu/cl', 12, (f) => fmt(f.colyseusLoadCpuPerClient, 3)],
  ['P3 B/s', 8, (f) => fmt(f.p3BytesPerClientPerSecond)],
  ['Col B/s', 9, (f) => fmt(f.colyseusBytesPerClientPerSecond)],
  ['P3 heap/upd', 13, (f) => fmt(f.p3HeapBytesPerUpdate)],
  ['Col heap/upd', 14, (f) => fmt(f.colyseusHeapBytesPerUpdate)],
  ['P3 us/upd', 11, (f) => fmt(f.p3CpuMicrosPerUpdate, 3)],
  ['Col us/upd', 12, (f) => fmt(f.colyseusCpuMicrosPerUpdate, 3)],
  ['raw us/upd', 12, (f) => fmt(f.rawCpuMicrosPerUpdate, 3)],
  ['late %', 8, (f) => fmt(f.p3LateOpsShare === undefined ? undefined : 100 * f.p3LateOpsShare, 2)],
  ['other %', 9, (f) => fmt(f.otherCpuPercent, 1)],
];

/** The median round's table, one line per round, the medians, and the verdicts on the medians. */
export function formatSdkReport(run: SdkBenchResult): string {
  const { rounds, figures, median: m, verdicts: v } = run;
  const columns = roundColumns.filter(([, , value]) => figures.some((f) => value(f) !== '-'));
  const row = (name: string, f: SdkRoundFigures): string =>
    name.padEnd(7) + columns.map(([, width, value]) => value(f).padStart(width)).join('');
  const lines = [
    rounds.length > 1
      ? `median round (${run.representative + 1} of ${rounds.length}, by P3 SDK latency p99):`
      : 'one round:',
    formatRound(rounds[run.representative] as ArenaBenchResult),
    '',
    `${rounds.length} round(s) (the servers' order rotates by one each round; latencies in ms; "cpu/cl" load CPU % ` +
      `per client; "B/s" bytes received per client per second; "heap/upd" load heap bytes per delivered update):`,
    'round'.padEnd(7) + columns.map(([name, width]) => name.padStart(width)).join(''),
    ...figures.map((f, i) => row(String(i + 1), f)),
    row('median', m),
    ...figures.flatMap((f, i) =>
      f.broken === undefined ? [] : [`round ${i + 1} left out of the medians: ${f.broken}`],
    ),
    '',
    `latency p99: P3 SDK ${fmt(m.p3LatencyP99Ms, 2)} ms vs Colyseus ${fmt(m.colyseusLatencyP99Ms, 2)} ms + 5 ms: ${verdictText(v.latency)}` +
      ` (p50 ${fmt(m.p3LatencyP50Ms, 2)} vs ${fmt(m.colyseusLatencyP50Ms, 2)} ms)`,
    `SDK CPU per client: P3 ${fmt(m.p3LoadCpuPerClient, 3)} % vs Colyseus ${fmt(m.colyseusLoadCpuPerClient, 3)} % of a core: ${verdictText(v.sdkCpu)}`,
    `bytes received per client per second: P3 ${fmt(m.p3BytesPerClientPerSecond)} vs 0.5 x Colyseus ${fmt(
      m.colyseusBytesPerClientPerSecond === undefined ? undefined : 0.5 * m.colyseusBytesPerClientPerSecond,
    )}: ${verdictText(v.bytes)}`,
    `server CPU per delivered update: P3 ${fmt(m.p3CpuMicrosPerUpdate, 3)} us vs 1.5 x raw uWS ${fmt(
      m.rawCpuMicrosPerUpdate === undefined ? undefined : 1.5 * m.rawCpuMicrosPerUpdate,
      3,
    )} us: ${verdictText(v.serverCpu)} (Colyseus ${fmt(m.colyseusCpuMicrosPerUpdate, 3)} us)`,
  ];
  const noisy = figures.filter((f) => f.otherCpuPercent > 20).length;
  if (noisy > 0)
    lines.push(`note: other processes used over 20 % of a core in ${noisy} round(s): figures are noisy`);
  return lines.join('\n');
}

/** The machine-readable line: the median round at the top level, then every round, the medians and verdicts. */
export function formatSdkJsonLine(run: SdkBenchResult): string {
  const { rounds, representative, ...summary } = run;
  return JSON.stringify({
    bench: 'sdk',
    ...(rounds[representative] as ArenaBenchResult),
    rounds: rounds.map((r) => ({ ...r, options: undefined })),
    summary: { ...summary, representative },
  });
}
