import { MemberHeartbeat, configOrExit, connectCluster, drainOnSignals, timerScheduler } from '@p3/runtime';
import { pino } from 'pino';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { ClusterDocumentRooms } from './cluster/cluster-document-rooms.js';
import { ClusterRooms } from './cluster/cluster-rooms.js';
import { ecsSyncEndpoint } from './documents/ecs-sync-endpoint.js';
import { clusterGatewayConfigFromEnv } from './cluster/cluster-gateway-config.js';
import { createFanout, startGateway, type GatewayExtension } from './gateway.js';
import { demoTokenEndpoint } from './http/demo-tokens.js';
import { roomsApi } from './http/rooms-api.js';
import { loadStaticFiles } from './http/static-files.js';
import { JwtAuthenticator } from './jwt-authenticator.js';

/**
 * One cluster gateway process: `/v1/connect` for world rooms that run on the simulators, across NATS. Stateless: any
 * client may connect to any gateway. Configured from P3_* variables (see the README's cluster section).
 */
async function main(): Promise<void> {
  const { config, warnings } = configOrExit((onUnknown) =>
    clusterGatewayConfigFromEnv(process.env, onUnknown),
  );
  const logger = pino({ level: config.logLevel }).child({ gateway: config.gatewayId });
  for (const warning of warnings) logger.warn(warning);
  if (config.jwt === undefined)
    logger.warn('P3_JWT_SECRET is not set: anyone may join any room (development mode)');
  const cluster = await connectCluster(config.cluster, { name: config.gatewayId, logger });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const { fanout, metrics } = createFanout(config.gateway, registry, logger);
  const rooms = new ClusterRooms({
    gatewayId: config.gatewayId,
    bus: cluster.bus,
    buffer: cluster.buffer,
    membership: cluster.membership,
    fanout,
    logger,
    registry,
    joinTimeoutMs: config.joinTimeoutMs,
    silenceMs: config.silenceMs,
    ownerSilentMs: config.ownerSilentMs,
  });
  // Live before the first join: simulators end the sessions of gateways that are not (a dead one's).
  const heartbeat = new MemberHeartbeat({
    membership: cluster.gateways,
    memberId: config.gatewayId,
    ttlMs: config.memberTtlMs,
    scheduler: timerScheduler,
    logger,
  });
  await heartbeat.start();
  await rooms.start();
  const documents = new ClusterDocumentRooms({
    gatewayId: config.gatewayId,
    tenant: config.gateway.tenant,
    bus: cluster.bus,
    buffer: cluster.buffer,
    membership: cluster.membership,
    requests: rooms.requests,
    scheduler: timerScheduler,
    logger,
    metrics: rooms.clusterMetrics,
  });
  const extensions: GatewayExtension[] = [
    ecsSyncEndpoint({ rooms: documents, idleTimeoutSeconds: config.gateway.idleTimeoutSeconds }),
    roomsApi({ rooms: documents }),
  ];
  if (config.demoTokens && config.jwt !== undefined)
    extensions.push(demoTokenEndpoint({ ...config.jwt, ttlSeconds: 3600 }));
  const gateway = await startGateway(config.gateway, {
    rooms,
    fanout,
    metrics,
    logger,
    registry,
    ready: () => cluster.problems().length === 0,
    extensions,
    ...(config.staticDir === undefined ? {} : { staticFiles: await loadStaticFiles(config.staticDir) }),
    ...(config.jwt === undefined ? {} : { auth: JwtAuthenticator.fromConfig(config.jwt) }),
  });
  logger.info({ port: gateway.port }, `gateway ${config.gatewayId} listening on ${gateway.port}`);

  drainOnSignals(logger, 'clients are told to reconnect elsewhere', async () => {
    await gateway.close();
    rooms.close();
    await heartbeat.stop();
    await cluster.close();
  });
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
