import type { ArenaBenchResult } from './arena-runner.js';
import { runArenaBench } from './arena-runner.js';
import type { ArenaOptions } from './bench-options.js';

/** The figures of one round that the verdicts use. */
export interface RoundFigures {
  readonly p3LatencyP99Ms: number | undefined;
  readonly rawLatencyP99Ms: number | undefined;
  readonly tickedFloorP99Ms: number | undefined;
  readonly p3CpuMicrosPerUpdate: number | undefined;
  readonly rawCpuMicrosPerUpdate: number | undefined;
  readonly cpuPerUpdateRatio: number | undefined;
  /** The larger of the two windows' "other processes" CPU: how noisy the round was. */
  readonly otherCpuPercent: number;
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
}

/**
 * Runs `options.rounds` rounds of the arena bench back to back, alternating which server goes first, and judges
 * the targets on the medians: on a shared 2-core VM one round's p99 moves by several milliseconds with steal time
 * and other processes, a median of three or more does not.
 */
export async function runArenaRounds(
  options: ArenaOptions,
  progress: (line: string) => void = () => undefined,
): Promise<ArenaRoundsResult> {
  const rounds: ArenaBenchResult[] = [];
  for (let i = 0; i < options.rounds; i++) {
    if (options.rounds > 1) progress(`round ${i + 1} of ${options.rounds}`);
    rounds.push(await runArenaBench(options, progress, i % 2 === 1));
  }
  return summarizeRounds(rounds);
}

export function summarizeRounds(rounds: readonly ArenaBenchResult[]): ArenaRoundsResult {
  if (rounds.length === 0) throw new Error('no rounds to summarize');
  const figures = rounds.map(roundFigures);
  const pick = (key: keyof RoundFigures): number | undefined =>
    median(figures.map((f) => f[key]).filter((v): v is number => v !== undefined));
  const med: RoundFigures = {
    p3LatencyP99Ms: pick('p3LatencyP99Ms'),
    rawLatencyP99Ms: pick('rawLatencyP99Ms'),
    tickedFloorP99Ms: pick('tickedFloorP99Ms'),
    p3CpuMicrosPerUpdate: pick('p3CpuMicrosPerUpdate'),
    rawCpuMicrosPerUpdate: pick('rawCpuMicrosPerUpdate'),
    cpuPerUpdateRatio: pick('cpuPerUpdateRatio'),
    otherCpuPercent: pick('otherCpuPercent') ?? 0,
  };
  const p99TargetMs = (rounds[0] as ArenaBenchResult).derived.p99TargetMs;
  const byP99 = figures
    .map((f, i) => ({ i, p99: f.p3LatencyP99Ms ?? f.rawLatencyP99Ms ?? 0 }))
    .sort((a, b) => a.p99 - b.p99);
  return {
    rounds,
    figures,
    median: med,
    representative: (byP99[Math.floor((byP99.length - 1) / 2)] as { i: number }).i,
    p99TargetMs,
    p3MeetsLatency: med.p3LatencyP99Ms === undefined ? undefined : med.p3LatencyP99Ms <= p99TargetMs,
    p3MeetsCpu: med.cpuPerUpdateRatio === undefined ? undefined : med.cpuPerUpdateRatio <= 1.5,
  };
}

function roundFigures(round: ArenaBenchResult): RoundFigures {
  const p3 = round.results.find((r) => r.kind === 'p3');
  const raw = round.results.find((r) => r.kind === 'raw');
  return {
    p3LatencyP99Ms: p3?.load.latencyMs.p99,
    rawLatencyP99Ms: raw?.load.latencyMs.p99,
    tickedFloorP99Ms: round.derived.tickedFloorP99Ms,
    p3CpuMicrosPerUpdate: p3?.cpuMicrosPerUpdate,
    rawCpuMicrosPerUpdate: raw?.cpuMicrosPerUpdate,
    cpuPerUpdateRatio: round.derived.cpuPerUpdateRatio,
    otherCpuPercent: Math.max(0, ...round.results.map((r) => r.otherCpuPercent)),
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
