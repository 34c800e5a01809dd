import type { ScaleBenchOptions } from './scale-bench-options.js';
import { startBenchCluster, type BenchCluster, type ClusterBuild } from './arena-cluster.js';

/** What every scale scenario is run with: the build it starts its cluster from, the options, a progress log. */
export interface ScenarioContext {
  readonly build: ClusterBuild;
  readonly options: ScaleBenchOptions;
  /** Unique per run: room names of two runs never meet. */
  readonly runId: string;
  readonly log: (line: string) => void;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs `scenario` on a fresh cluster of the build (rooms ticking at 30 Hz, `simulatorEnv` added to the simulators'
 * settings), stopped and cleaned (streams, schema, Redis keys) afterwards whatever happens.
 */
export async function onFreshCluster<T>(
  ctx: ScenarioContext,
  simulatorEnv: Readonly<Record<string, string>>,
  scenario: (cluster: BenchCluster) => Promise<T>,
): Promise<T> {
  const cluster = await startBenchCluster(ctx.build, 30, ctx.log, undefined, {
    simulatorEnv,
    prefixStem: 'p3scale',
  });
  try {
    return await scenario(cluster);
  } finally {
    await cluster.stop();
  }
}

/**
 * Seconds a load process may live: the scenario's joins (about `joins` of them, 20 ms each on a loaded machine),
 * warm-up and window with room to spare. The processes also end with the bench (their stdin closes).
 */
export function loadLifetimeSeconds(options: ScaleBenchOptions, joins: number): number {
  return Math.ceil(120 + options.warmup + options.seconds + joins * 0.02);
}

/** Time allowed for every member of a scenario to be welcomed. */
export function joinTimeoutMs(joins: number): number {
  return 60_000 + joins * 20;
}
