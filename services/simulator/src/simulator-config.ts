import { EnvReader } from '@p3/runtime';

export interface SimulatorConfig {
  readonly tickRate: number;
  readonly bufferFrame: number;
  readonly idleTimeoutMs: number;
  readonly resumeGraceMs: number;
  readonly snapshotIntervalMs: number;
  /** With the room log: at most one record per room per this many ms. */
  readonly logIntervalMs: number;
  readonly maxRooms: number | undefined;
}

export const defaultSimulatorConfig: SimulatorConfig = {
  tickRate: 30,
  bufferFrame: 20,
  idleTimeoutMs: 30_000,
  resumeGraceMs: 10_000,
  snapshotIntervalMs: 5_000,
  logIntervalMs: 100,
  maxRooms: undefined,
};

export function simulatorConfigFromEnv(
  env: Readonly<Record<string, string | undefined>>,
  base: SimulatorConfig = defaultSimulatorConfig,
): SimulatorConfig {
  const r = new EnvReader(env);
  const maxRooms = r.int('P3_MAX_ROOMS', base.maxRooms ?? 0, { min: 0 });
  const config: SimulatorConfig = {
    tickRate: r.int('P3_TICK_RATE', base.tickRate, { min: 1, max: 240 }),
    bufferFrame: r.int('P3_BUFFER_FRAME', base.bufferFrame, { min: 1, max: 1000 }),
    idleTimeoutMs: r.int('P3_ROOM_IDLE_TIMEOUT_MS', base.idleTimeoutMs, { min: 0 }),
    resumeGraceMs: r.int('P3_RESUME_GRACE_MS', base.resumeGraceMs, { min: 0 }),
    snapshotIntervalMs: r.int('P3_SNAPSHOT_INTERVAL_MS', base.snapshotIntervalMs, { min: 50 }),
    logIntervalMs: r.int('P3_LOG_INTERVAL_MS', base.logIntervalMs, { min: 0, max: 10_000 }),
    maxRooms: maxRooms === 0 ? undefined : maxRooms,
  };
  r.done();
  return config;
}
