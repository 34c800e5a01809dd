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
  /** A room whose ticks change nothing sends one `idle` heartbeat per this many ms instead of frames. */
  readonly idleHeartbeatMs: number;
  /** A member that keeps sending gets one ack per this many ms (covering everything received meanwhile). */
  readonly ackIntervalMs: number;
  /** Rooms hosted at once; a join that would open one more is refused (4105). 0: no limit. */
  readonly maxRooms: number;
  /** Members of one room (detached ones within their resume grace included); one more is refused (4104). 0: no limit. */
  readonly maxMembersPerRoom: number;
}

export const defaultSimulatorConfig: SimulatorConfig = {
  tickRate: 30,
  bufferFrame: 20,
  idleTimeoutMs: 30_000,
  resumeGraceMs: 10_000,
  snapshotIntervalMs: undefined,
  logIntervalMs: 250,
  idleHeartbeatMs: 1000,
  ackIntervalMs: 250,
  maxRooms: 1000,
  maxMembersPerRoom: 500,
};

/**
 * Simulator settings from P3_* environment variables. Given an environment it throws a ConfigError listing every
 * problem; given a shared EnvReader it only records them (the reader's owner calls `done()`).
 */
export function simulatorConfigFromEnv(
  env: Readonly<Record<string, string | undefined>> | EnvReader,
  base: SimulatorConfig = defaultSimulatorConfig,
): SimulatorConfig {
  const r = EnvReader.shared(env);
  const config: SimulatorConfig = {
    tickRate: r.int('P3_TICK_RATE', base.tickRate, { min: 1, max: 240 }),
    bufferFrame: r.int('P3_BUFFER_FRAME', base.bufferFrame, { min: 1, max: 1000 }),
    idleTimeoutMs: r.int('P3_ROOM_IDLE_TIMEOUT_MS', base.idleTimeoutMs, { min: 0 }),
    resumeGraceMs: r.int('P3_RESUME_GRACE_MS', base.resumeGraceMs, { min: 0 }),
    snapshotIntervalMs: r.optionalInt('P3_SNAPSHOT_INTERVAL_MS', { min: 50 }) ?? base.snapshotIntervalMs,
    logIntervalMs: r.int('P3_LOG_INTERVAL_MS', base.logIntervalMs, { min: 0, max: 10_000 }),
    idleHeartbeatMs: r.int('P3_IDLE_HEARTBEAT_MS', base.idleHeartbeatMs, { min: 0, max: 60_000 }),
    ackIntervalMs: r.int('P3_ACK_INTERVAL_MS', base.ackIntervalMs, { min: 0, max: 10_000 }),
    maxRooms: r.int('P3_MAX_ROOMS', base.maxRooms, { min: 0, max: 10_000_000 }),
    maxMembersPerRoom: r.int('P3_MAX_MEMBERS_PER_ROOM', base.maxMembersPerRoom, { min: 0, max: 1_000_000 }),
  };
  if (r !== env) r.done();
  return config;
}
