import { cpus, loadavg } from 'node:os';
import { ScaleScenario, type ScaleBenchOptions } from './scale-bench-options.js';
import { ClusterBuild } from './arena-cluster.js';
import { runIdleSockets, type IdleSocketsResult } from './scale-idle-sockets.js';
import { runNatsPerGateway, type NatsPerGatewayResult } from './scale-nats-per-gateway.js';
import type { ScenarioContext } from './scale-scenario.js';
import { runWideRoom, type WideRoomResult } from './scale-wide-room.js';

export type ScaleScenarioResult = IdleSocketsResult | WideRoomResult | NatsPerGatewayResult;

export interface ScaleBenchResult {
  readonly options: ScaleBenchOptions;
  readonly cores: number;
  /** Load average when the run began: a busy machine makes every figure noisier. */
  readonly loadAverageBefore: readonly number[];
  /** In the order run. */
  readonly results: readonly ScaleScenarioResult[];
  /** The whole run, build and clean-up included (s). */
  readonly durationSeconds: number;
}

/**
 * Builds the services once (`scripts/build.ts --out` and the bench world, in a temporary directory removed at the
 * end), then runs each scenario on a fresh cluster of its own, stopped and cleaned (streams, schema, Redis keys)
 * before the next one starts.
 */
export async function runScaleBench(
  options: ScaleBenchOptions,
  log: (line: string) => void = () => undefined,
): Promise<ScaleBenchResult> {
  const started = performance.now();
  const loadAverageBefore = loadavg();
  log('scale bench: building the cluster (scripts/build.ts and the bench world)');
  const build = await ClusterBuild.create('p3-scale-');
  try {
    const ctx: ScenarioContext = { build, options, runId: Date.now().toString(36), log };
    const results: ScaleScenarioResult[] = [];
    for (const scenario of options.scenarios) results.push(await runScenario(scenario, ctx));
    return {
      options,
      cores: cpus().length,
      loadAverageBefore,
      results,
      durationSeconds: (performance.now() - started) / 1000,
    };
  } finally {
    await build.remove();
  }
}

function runScenario(scenario: ScaleScenario, ctx: ScenarioContext): Promise<ScaleScenarioResult> {
  switch (scenario) {
    case ScaleScenario.IdleSockets:
      return runIdleSockets(ctx);
    case ScaleScenario.WideRoom:
      return runWideRoom(ctx);
    case ScaleScenario.NatsPerGateway:
      return runNatsPerGateway(ctx);
  }
}
