import type { BenchCluster } from './arena-cluster.js';
import { DependencyRateMeter, type DependencyRates } from './cluster-rates.js';
import type { WindowCounters } from './load-run.js';
import { isScaleLoadSummary, mergeScaleSummaries, type MergedScaleLoad } from './scale-counts.js';
import { startCpuWindow, type CpuWindowFigures } from './scale-cpu-window.js';
import { startGatewayWindow, type GatewayTraffic } from './scale-gateway-traffic.js';
import { LoadFleet } from './scale-load-fleet.js';
import type { ScaleLoadPlan } from './scale-load-plan.js';
import { joinTimeoutMs, loadLifetimeSeconds, sleep, type ScenarioContext } from './scale-scenario.js';
import { scriptPath } from './ts-process.js';

/** What the scale-load processes of a scenario and the cluster under them did over the window. */
export interface ScaleLoadWindow<T> {
  /** From the first connect to the last welcome (the slowest load process), ms. */
  readonly connectMs: number;
  /** The cluster's processes, the load processes, NATS and Redis. */
  readonly cpu: CpuWindowFigures;
  readonly gateways: readonly GatewayTraffic[];
  readonly load: MergedScaleLoad;
  /** What the scenario's own counters (`during`) returned. */
  readonly counted: T;
  /** What the cluster asked of NATS, Redis and Postgres per second over the window. */
  readonly dependencies: DependencyRates;
}

/** A scenario's scale-load processes: one per plan, `joins` members in all, for the log lines `name`. */
export interface ScaleLoads<T> {
  readonly name: string;
  readonly plans: readonly ScaleLoadPlan[];
  readonly joins: number;
  /** What the scenario counts besides, over the same window. */
  readonly during: WindowCounters<T>;
}

/**
 * Runs one scale-load.ts process per plan against `cluster`: every member joins, the senders start, the warm-up
 * passes, then one window over which the load processes count what their members receive while the CPU of every
 * process and what the gateways take in are measured. The load processes are stopped in the end, whatever happens.
 */
export async function measureScaleLoads<T>(
  ctx: ScenarioContext,
  cluster: BenchCluster,
  loads: ScaleLoads<T>,
): Promise<ScaleLoadWindow<T>> {
  const { options, log } = ctx;
  const lifetime = String(loadLifetimeSeconds(options, loads.joins));
  const argLists = loads.plans.map((plan) => [
    '--plan',
    JSON.stringify(plan),
    '--send-hz',
    String(options.sendHz),
    '--lifetime',
    lifetime,
  ]);
  const fleet = LoadFleet.start('scale-load', scriptPath('scale-load.ts'), argLists, isScaleLoadSummary);
  try {
    const { connectMs } = await fleet.ready(joinTimeoutMs(loads.joins));
    cluster.check();
    await fleet.startSending();
    log(`${loads.name}: joined in ${connectMs} ms; warm-up ${options.warmup} s, window ${options.seconds} s`);
    await sleep(options.warmup * 1000);
    const traffic = await startGatewayWindow(cluster.gateways);
    const cpuWindow = startCpuWindow([...cluster.processes, ...fleet.pids, ...cluster.services]);
    const meter = new DependencyRateMeter(
      cluster.nats,
      cluster.redis,
      cluster.pool,
      cluster.prefix,
      cluster.schema,
    );
    await meter.start();
    loads.during.begin();
    await fleet.measureStart();
    await sleep(options.seconds * 1000);
    const counted = loads.during.end();
    const dependencies = await meter.stop();
    const cpu = cpuWindow.end();
    // Before the window closes: the load processes hang up right after their summary.
    const gateways = await traffic.end();
    const load = mergeScaleSummaries(await fleet.measureEnd());
    cluster.check();
    return { connectMs, cpu, gateways, load, counted, dependencies };
  } finally {
    await fleet.stop();
  }
}
