import { EnvReader } from '@p3/runtime';

export interface SimulatorConfig {
  readonly tickRate: number;
  readonly bufferFrame: number;
  readonly idleTimeoutMs: number;
  readonly resumeGraceMs: number;
  /** Undefined: 30 s with the room log, 5 s without (see RoomHostOptions.snapshotIntervalMs). */
  readonly snapshotIntervalMs: number | undefined;
  /** With the room log: at most one record per room per this many ms. */
  readonly logIntervalMs: number;
  readonly maxRooms: number | undefined;
}

export const defaultSimulatorConfig: SimulatorConfig = {
  tickRate: 30,
  bufferFrame: 20,
  idleTimeoutMs: 30_000,
  resumeGraceMs: 10_000,
  snapshotIntervalMs: undefined,
  logIntervalMs: 250,
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
    snapshotIntervalMs:
      env.P3_SNAPSHOT_INTERVAL_MS === undefined || env.P3_SNAPSHOT_INTERVAL_MS === ''
        ? base.snapshotIntervalMs
        : r.int('P3_SNAPSHOT_INTERVAL_MS', 0, { min: 50 }),
    logIntervalMs: r.int('P3_LOG_INTERVAL_MS', base.logIntervalMs, { min: 0, max: 10_000 }),
    maxRooms: maxRooms === 0 ? undefined : maxRooms,
  };
  r.done();
  return config;
}
