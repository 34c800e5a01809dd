import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { WorldDefinition } from '@p3/engine';
import { arenaWorld } from '@p3/engine/arena-world';
import {
  JetStreamRoomLog,
  JetStreamSnapshotStore,
  PostgresSnapshotStore,
  configOrExit,
  connectCluster,
  drainOnSignals,
  startOpsHttpServer,
} from '@p3/runtime';
import pg from 'pg';
import { pino } from 'pino';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { ClusterSimulator } from './cluster-simulator.js';
import { clusterSimulatorConfigFromEnv } from './cluster-simulator-config.js';

/**
 * One cluster simulator process: owns rooms by lease, runs the demo arena world in them, logs to JetStream
 * (acks wait for it), snapshots through the JetStream snapshot stream that the persister writes to Postgres.
 */
async function main(): Promise<void> {
  const { config, warnings } = configOrExit((onUnknown) =>
    clusterSimulatorConfigFromEnv(process.env, onUnknown),
  );
  const logger = pino({ level: config.logLevel }).child({ simulator: config.simulatorId });
  for (const warning of warnings) logger.warn(warning);
  const world = config.worldModule === undefined ? arenaWorld : await loadWorld(config.worldModule);
  const cluster = await connectCluster(config.cluster, { name: config.simulatorId, logger });
  const pool = new pg.Pool({
    connectionString: config.databaseUrl,
    max: 4,
    ...(config.databaseSchema === undefined ? {} : { options: `-c search_path=${config.databaseSchema}` }),
  });
  pool.on('error', () => undefined);
  const durable = new PostgresSnapshotStore({ pool, table: 'room_snapshots' });
  const store = await JetStreamSnapshotStore.open({
    connection: cluster.nats,
    durable,
    prefix: config.cluster.prefix,
    stream: config.snapshotStream,
    logger,
  });
  const log = await JetStreamRoomLog.open({
    connection: cluster.nats,
    subjectPrefix: config.cluster.prefix,
    stream: config.logStream,
    logger,
  });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const simulator = new ClusterSimulator({
    memberId: config.simulatorId,
    bus: cluster.bus,
    buffer: cluster.buffer,
    leases: cluster.leases,
    membership: cluster.membership,
    gateways: cluster.gateways,
    store,
    log,
    world,
    config: config.simulator,
    logger,
    registry,
    leaseTtlMs: config.leaseTtlMs,
    memberTtlMs: config.leaseTtlMs,
    rebalanceMs: config.rebalanceMs,
  });
  await simulator.start();
  const ops = await startOpsHttpServer({
    host: config.host,
    port: config.port,
    registry,
    notReady: () => {
      const problems = cluster.problems();
      const storage = simulator.simulator.host.storageError;
      if (storage) problems.push(`${storage.failing} storage failing`);
      return problems;
    },
  });
  logger.info({ port: ops.port }, `simulator ${config.simulatorId} running (ops port ${ops.port})`);

  drainOnSignals(logger, 'rooms are handed off: final snapshots, leases released', async () => {
    await simulator.stop();
    await log.close();
    await store.close();
    await ops.close();
    await cluster.close();
    await pool.end().catch(() => undefined);
  });
}

/** The world definition a module exports (default or `world`); exits 2 with the reason when there is none. */
async function loadWorld(path: string): Promise<WorldDefinition> {
  let module: { default?: unknown; world?: unknown };
  try {
    module = (await import(pathToFileURL(resolve(path)).href)) as { default?: unknown; world?: unknown };
  } catch (error) {
    console.error(`P3_WORLD_MODULE=${path} cannot be loaded: ${(error as Error).message}`);
    process.exit(2);
  }
  const world = module.default ?? module.world;
  if (typeof world !== 'object' || world === null || !('schema' in world)) {
    console.error(
      `P3_WORLD_MODULE=${path} exports no world definition (default or \`world\`, made by defineWorld)`,
    );
    process.exit(2);
  }
  return world as WorldDefinition;
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
