import type { ArenaBenchResult } from './arena-runner.js';
import { buildCluster, runArenaBench } from './arena-runner.js';
import { isClusterKind, serverKinds, Target, type ArenaOptions, type ServerKind } from './bench-options.js';

/** The figures of one round that the verdicts use ("p3" is P3 with the log; "p3NoLog" without), and the log's cost. */
export interface RoundFigures {
  readonly p3LatencyP99Ms: number | undefined;
  readonly p3NoLogLatencyP99Ms: number | undefined;
  readonly rawLatencyP99Ms: number | undefined;
  readonly tickedFloorP99Ms: number | undefined;
  readonly p3CpuMicrosPerUpdate: number | undefined;
  readonly p3NoLogCpuMicrosPerUpdate: number | undefined;
  readonly rawCpuMicrosPerUpdate: number | undefined;
  /** P3 with the log / raw: the judged one. */
  readonly cpuPerUpdateRatio: number | undefined;
  readonly p3NoLogCpuPerUpdateRatio: number | undefined;
  /** P3 with the log / without it. */
  readonly logCpuCostRatio: number | undefined;
  readonly p3AckLatencyP99Ms: number | undefined;
  readonly p3NoLogAckLatencyP99Ms: number | undefined;
  readonly logAppendP99Ms: number | undefined;
  readonly logSyncsPerSecond: number | undefined;
  /** P3 driven by its SDK (`p3-sdk`): latency p99, server CPU per delivered update, its ratio to raw, load CPU. */
  readonly p3SdkLatencyP99Ms: number | undefined;
  readonly p3SdkCpuMicrosPerUpdate: number | undefined;
  readonly p3SdkCpuPerUpdateRatio: number | undefined;
  readonly p3SdkLoadCpuPercent: number | undefined;
  /**
   * The cluster (`p3-cluster`): latency p50/p99, ack latency p99, CPU per delivered update of its processes; and
   * beside `p3` in the same round, the NATS hop (cluster p50 - single-process p50) and the CPU ratio cluster / `p3`.
   */
  readonly p3ClusterLatencyP50Ms: number | undefined;
  readonly p3ClusterLatencyP99Ms: number | undefined;
  readonly p3ClusterAckLatencyP99Ms: number | undefined;
  readonly p3ClusterCpuMicrosPerUpdate: number | undefined;
  readonly natsHopLatencyP50Ms: number | undefined;
  readonly clusterCpuPerUpdateRatio: number | undefined;
  /** The largest of the windows' "other processes" CPU: how noisy the round was. */
  readonly otherCpuPercent: number;
  /** Why the round measured nothing worth a median (see `brokenRound`); undefined for a sound round. */
  readonly broken?: string;
}

export interface ArenaRoundsResult {
  readonly rounds: readonly ArenaBenchResult[];
  readonly figures: readonly RoundFigures[];
  /** Each figure's median over the rounds (undefined when no round has it). */
  readonly median: RoundFigures;
  /** The round whose P3 latency p99 is the median (the lower middle one for an even count): its table is printed. */
  readonly representative: number;
  readonly p99TargetMs: number;
  readonly p3MeetsLatency: boolean | undefined;
  readonly p3MeetsCpu: boolean | undefined;
  /** P3 driven by its SDK: median latency p99 within one tick + 5 ms. */
  readonly p3SdkMeetsLatency: boolean | undefined;
  /** The cluster: median latency p99 within one tick + 5 ms. */
  readonly p3ClusterMeetsLatency: boolean | undefined;
}

/**
 * Runs `options.rounds` rounds of the arena bench back to back, rotating which server goes first, and judges
 * the targets (on P3 with the log) on the medians: on a shared 2-core VM one round's p99 moves by several milliseconds with steal time
 * and other processes, a median of three or more does not. With `p3-cluster`, the cluster is built once for all
 * rounds (and removed at the end).
 */
export async function runArenaRounds(
  options: ArenaOptions,
  progress: (line: string) => void = () => undefined,
  kinds: readonly ServerKind[] | undefined = undefined,
): Promise<ArenaRoundsResult> {
  const clusterBuild = serverKinds(kinds ?? options.target).some(isClusterKind)
    ? await buildCluster(progress)
    : undefined;
  try {
    const rounds: ArenaBenchResult[] = [];
    for (let i = 0; i < options.rounds; i++) {
      if (options.rounds > 1) progress(`round ${i + 1} of ${options.rounds}`);
      rounds.push(await runArenaBench(options, progress, i, kinds, clusterBuild));
    }
    return summarizeRounds(rounds);
  } finally {
    await clusterBuild?.remove();
  }
}

export function summarizeRounds(rounds: readonly ArenaBenchResult[]): ArenaRoundsResult {
  if (rounds.length === 0) throw new Error('no rounds to summarize');
  const figures = rounds.map(roundFigures);
  const sound = soundRounds(figures);
  const pick = (key: keyof RoundFigures): number | undefined =>
    median(sound.map((f) => f[key]).filter((v): v is number => typeof v === 'number'));
  const med: RoundFigures = {
    p3LatencyP99Ms: pick('p3LatencyP99Ms'),
    p3NoLogLatencyP99Ms: pick('p3NoLogLatencyP99Ms'),
    rawLatencyP99Ms: pick('rawLatencyP99Ms'),
    tickedFloorP99Ms: pick('tickedFloorP99Ms'),
    p3CpuMicrosPerUpdate: pick('p3CpuMicrosPerUpdate'),
    p3NoLogCpuMicrosPerUpdate: pick('p3NoLogCpuMicrosPerUpdate'),
    rawCpuMicrosPerUpdate: pick('rawCpuMicrosPerUpdate'),
    cpuPerUpdateRatio: pick('cpuPerUpdateRatio'),
    p3NoLogCpuPerUpdateRatio: pick('p3NoLogCpuPerUpdateRatio'),
    logCpuCostRatio: pick('logCpuCostRatio'),
    p3AckLatencyP99Ms: pick('p3AckLatencyP99Ms'),
    p3NoLogAckLatencyP99Ms: pick('p3NoLogAckLatencyP99Ms'),
    logAppendP99Ms: pick('logAppendP99Ms'),
    logSyncsPerSecond: pick('logSyncsPerSecond'),
    p3SdkLatencyP99Ms: pick('p3SdkLatencyP99Ms'),
    p3SdkCpuMicrosPerUpdate: pick('p3SdkCpuMicrosPerUpdate'),
    p3SdkCpuPerUpdateRatio: pick('p3SdkCpuPerUpdateRatio'),
    p3SdkLoadCpuPercent: pick('p3SdkLoadCpuPercent'),
    p3ClusterLatencyP50Ms: pick('p3ClusterLatencyP50Ms'),
    p3ClusterLatencyP99Ms: pick('p3ClusterLatencyP99Ms'),
    p3ClusterAckLatencyP99Ms: pick('p3ClusterAckLatencyP99Ms'),
    p3ClusterCpuMicrosPerUpdate: pick('p3ClusterCpuMicrosPerUpdate'),
    natsHopLatencyP50Ms: pick('natsHopLatencyP50Ms'),
    clusterCpuPerUpdateRatio: pick('clusterCpuPerUpdateRatio'),
    otherCpuPercent: pick('otherCpuPercent') ?? 0,
  };
  const p99TargetMs = (rounds[0] as ArenaBenchResult).derived.p99TargetMs;
  const representative = medianRound(
    figures,
    sound,
    (f) =>
      f.p3LatencyP99Ms ??
      f.p3SdkLatencyP99Ms ??
      f.p3NoLogLatencyP99Ms ??
      f.p3ClusterLatencyP99Ms ??
      f.rawLatencyP99Ms ??
      0,
  );
  return {
    rounds,
    figures,
    median: med,
    representative,
    p99TargetMs,
    p3MeetsLatency: med.p3LatencyP99Ms === undefined ? undefined : med.p3LatencyP99Ms <= p99TargetMs,
    p3MeetsCpu: med.cpuPerUpdateRatio === undefined ? undefined : med.cpuPerUpdateRatio <= 1.5,
    p3SdkMeetsLatency: med.p3SdkLatencyP99Ms === undefined ? undefined : med.p3SdkLatencyP99Ms <= p99TargetMs,
    p3ClusterMeetsLatency:
      med.p3ClusterLatencyP99Ms === undefined ? undefined : med.p3ClusterLatencyP99Ms <= p99TargetMs,
  };
}

/** The rounds the medians are taken over: the sound ones, or all of them when every round broke (they say why). */
export function soundRounds<F extends { readonly broken?: string }>(figures: readonly F[]): readonly F[] {
  const sound = figures.filter((f) => f.broken === undefined);
  return sound.length > 0 ? sound : figures;
}

/** Index in `figures` of the round whose `p99` is the median among `sound` (the lower middle for an even count). */
export function medianRound<F>(figures: readonly F[], sound: readonly F[], p99: (f: F) => number): number {
  const byP99 = [...sound].sort((a, b) => p99(a) - p99(b));
  return figures.indexOf(byP99[Math.floor((byP99.length - 1) / 2)] as F);
}

/** Share of the updates the load offered that a server must deliver for its round to count. */
const minDeliveredShare = 0.9;

/**
 * Why a round is broken, or undefined: a server that delivered under 90 % of the updates its clients offered fell
 * behind for a stretch of the window (seen once: the raw floor at 94 % of a core, 15 s of latency, 0.32x for the
 * judged ratio, the host stalled), so its figures measure the stall, not the server.
 */
export function brokenRound(round: ArenaBenchResult): string | undefined {
  const fanOut = round.options.clients - 1;
  for (const r of round.results) {
    const offered = r.load.sentPerSecond * fanOut;
    if (offered <= 0) continue;
    const share = r.load.updatesPerSecond / offered;
    if (share < minDeliveredShare) {
      return (
        `${r.kind} delivered ${Math.round(share * 100)} % of the offered updates ` +
        `(its server at ${Math.round(r.serverCpuPercent)} % of a core, latency p99 ${Math.round(r.load.latencyMs.p99)} ms)`
      );
    }
  }
  return undefined;
}

function roundFigures(round: ArenaBenchResult): RoundFigures {
  const p3 = round.results.find((r) => r.kind === Target.P3);
  const p3NoLog = round.results.find((r) => r.kind === Target.P3NoLog);
  const raw = round.results.find((r) => r.kind === Target.Raw);
  const p3Sdk = round.results.find((r) => r.kind === Target.P3Sdk);
  const p3Cluster = round.results.find((r) => r.kind === Target.P3Cluster);
  const broken = brokenRound(round);
  // An empty ack histogram (no ack came) has no p99 to take a median of.
  const ackP99 = (r: typeof p3): number | undefined =>
    r !== undefined && r.load.ackLatencyMs.count > 0 ? r.load.ackLatencyMs.p99 : undefined;
  return {
    p3LatencyP99Ms: p3?.load.latencyMs.p99,
    p3NoLogLatencyP99Ms: p3NoLog?.load.latencyMs.p99,
    rawLatencyP99Ms: raw?.load.latencyMs.p99,
    tickedFloorP99Ms: round.derived.tickedFloorP99Ms,
    p3CpuMicrosPerUpdate: p3?.cpuMicrosPerUpdate,
    p3NoLogCpuMicrosPerUpdate: p3NoLog?.cpuMicrosPerUpdate,
    rawCpuMicrosPerUpdate: raw?.cpuMicrosPerUpdate,
    cpuPerUpdateRatio: round.derived.cpuPerUpdateRatio,
    p3NoLogCpuPerUpdateRatio: round.derived.p3NoLogCpuPerUpdateRatio,
    logCpuCostRatio: round.derived.logCpuCostRatio,
    p3AckLatencyP99Ms: ackP99(p3),
    p3NoLogAckLatencyP99Ms: ackP99(p3NoLog),
    logAppendP99Ms: p3?.serverLogAppendP99Ms,
    logSyncsPerSecond: p3?.logSyncsPerSecond,
    p3SdkLatencyP99Ms: p3Sdk?.load.latencyMs.p99,
    p3SdkCpuMicrosPerUpdate: p3Sdk?.cpuMicrosPerUpdate,
    p3SdkCpuPerUpdateRatio: round.derived.p3SdkCpuPerUpdateRatio,
    p3SdkLoadCpuPercent: p3Sdk?.loadCpuPercent,
    p3ClusterLatencyP50Ms: p3Cluster?.load.latencyMs.p50,
    p3ClusterLatencyP99Ms: p3Cluster?.load.latencyMs.p99,
    p3ClusterAckLatencyP99Ms: ackP99(p3Cluster),
    p3ClusterCpuMicrosPerUpdate: p3Cluster?.cpuMicrosPerUpdate,
    natsHopLatencyP50Ms: round.derived.natsHopLatencyP50Ms,
    clusterCpuPerUpdateRatio: round.derived.clusterCpuPerUpdateRatio,
    otherCpuPercent: Math.max(0, ...round.results.map((r) => r.otherCpuPercent)),
    ...(broken === undefined ? {} : { broken }),
  };
}

/** Median of the values (mean of the two middle ones for an even count); undefined for none. */
export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}
