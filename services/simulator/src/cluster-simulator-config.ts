import {
  EnvReader,
  clusterConnectionFromEnv,
  processMemberId,
  type ClusterConnectionConfig,
  type UnknownVariable,
} from '@p3/runtime';
import { simulatorConfigFromEnv, type SimulatorConfig } from './simulator-config.js';

/** Settings of one cluster simulator process (`services/simulator/src/main.ts`, `dist/simulator.mjs`). */
export interface ClusterSimulatorConfig {
  readonly simulator: SimulatorConfig;
  readonly cluster: ClusterConnectionConfig;
  /** P3_SIMULATOR_ID; default unique per process (see processMemberId). */
  readonly simulatorId: string;
  /** Where the persister writes snapshots; read here for rooms the snapshot stream no longer holds. */
  readonly databaseUrl: string;
  readonly databaseSchema: string | undefined;
  /** P3_SNAPSHOT_STREAM: the JetStream stream of snapshots (the persister's P3_SNAPSHOT_STREAM). */
  readonly snapshotStream: string;
  /** P3_LOG_STREAM: the JetStream stream of room logs. */
  readonly logStream: string;
  /**
   * P3_WORLD_MODULE: an ES module whose default export (or `world` export) is the world definition (`defineWorld`)
   * the rooms run. Unset: the demo arena world.
   */
  readonly worldModule: string | undefined;
  /** P3_LEASE_TTL_MS: a dead simulator's rooms move after at most this long. Renewed every third of it. */
  readonly leaseTtlMs: number;
  /** P3_REBALANCE_MS: how often placement is checked against the live simulators. */
  readonly rebalanceMs: number;
  /** Health and metrics HTTP (P3_SIMULATOR_HOST, P3_SIMULATOR_PORT; 0 picks a free port). */
  readonly host: string;
  readonly port: number;
  readonly logLevel: string;
}

export function clusterSimulatorConfigFromEnv(
  env: Readonly<Record<string, string | undefined>>,
  onUnknown?: (variable: UnknownVariable) => void,
): ClusterSimulatorConfig {
  const r = new EnvReader(env);
  const config: ClusterSimulatorConfig = {
    simulator: simulatorConfigFromEnv(r),
    cluster: clusterConnectionFromEnv(r),
    simulatorId: processMemberId('simulator', r.optionalString('P3_SIMULATOR_ID')),
    databaseUrl: r.string('P3_DATABASE_URL', 'postgres://postgres@127.0.0.1:5432/postgres', {
      pattern: /^postgres(ql)?:\/\/\S+$/,
    }),
    databaseSchema: r.optionalString('P3_DATABASE_SCHEMA'),
    snapshotStream: r.string('P3_SNAPSHOT_STREAM', 'P3_SNAPSHOTS', { pattern: /^[A-Za-z0-9_-]{1,64}$/ }),
    logStream: r.string('P3_LOG_STREAM', 'P3_ROOM_LOG', { pattern: /^[A-Za-z0-9_-]{1,64}$/ }),
    worldModule: r.optionalString('P3_WORLD_MODULE'),
    leaseTtlMs: r.int('P3_LEASE_TTL_MS', 1500, { min: 300, max: 120_000 }),
    rebalanceMs: r.int('P3_REBALANCE_MS', 2000, { min: 100, max: 600_000 }),
    host: r.string('P3_SIMULATOR_HOST', '0.0.0.0'),
    port: r.int('P3_SIMULATOR_PORT', 8095, { min: 0, max: 65535 }),
    logLevel: r.logLevel(),
  };
  if (config.databaseSchema !== undefined && !/^[a-z_][a-z0-9_]*$/.test(config.databaseSchema))
    r.problem(`P3_DATABASE_SCHEMA must be a plain lower-case SQL identifier, got ${config.databaseSchema}`);
  r.finish(onUnknown);
  return config;
}
