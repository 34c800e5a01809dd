import { pino } from 'pino';
import { GatewayListenError, JwtAuthenticator, demoTokenEndpoint } from '@p3/gateway';
import { ConfigError, LogDirectoryInUseError, configOrExit, drainOnSignals } from '@p3/runtime';
import { arenaWorld } from '@p3/engine/arena-world';
import { buildDemoFiles } from './demo/demo-bundle.js';

import { P3Server } from './p3-server.js';
import { serverConfigFromEnv } from './server-config.js';

/** `npm start`: the single-process server with embedded defaults (file snapshots in ./data) and the arena demo. */
async function main(): Promise<void> {
  const { config, warnings } = configOrExit((onUnknown) => serverConfigFromEnv(process.env, onUnknown));
  const logger = pino({ level: config.logLevel });
  for (const warning of warnings) logger.warn(warning);
  const server = new P3Server({
    host: config.gateway.host,
    port: config.gateway.port,
    instanceId: config.instanceId,
    world: arenaWorld,
    storage: config.storage,
    dataDir: config.dataDir,
    databaseUrl: config.databaseUrl,
    durability: config.durability,
    logCommitIntervalMs: config.logCommitIntervalMs,
    logger,
    gateway: config.gateway,
    simulator: config.simulator,
    documents: { saveThrottleMs: config.documentSaveThrottleMs },
    ...(config.demo ? { staticFiles: await buildDemoFiles() } : {}),
    ...(config.demoTokens && config.jwt !== undefined
      ? { extensions: [demoTokenEndpoint({ ...config.jwt, ttlSeconds: 3600 })] }
      : {}),
    ...(config.jwt === undefined ? {} : { auth: JwtAuthenticator.fromConfig(config.jwt) }),
  });
  if (config.jwt === undefined)
    logger.warn('P3_JWT_SECRET is not set: anyone may join any room (development mode)');
  if (config.demoTokens)
    logger.warn(
      config.jwt === undefined
        ? 'P3_DEMO_TOKENS=true has no effect without P3_JWT_SECRET (the server is open)'
        : 'P3_DEMO_TOKENS=true: anyone who reaches /demo/token gets a token for any name and team (development only)',
    );
  if (config.storage === 'memory')
    logger.warn('P3_STORAGE=memory: rooms live in memory only, nothing survives a restart');
  else if (config.durability === 'snapshot')
    logger.warn(
      'P3_DURABILITY=snapshot: acks go out before changes are durable; a crash loses what changed since the last snapshot',
    );
  try {
    await server.listen();
  } catch (error) {
    // Expected start-up failures get one readable line, no stack: an unusable data directory is a configuration
    // problem (exit 2, like the ones above); a port that cannot be bound is an environment problem (exit 1).
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(2);
    }
    if (error instanceof GatewayListenError || error instanceof LogDirectoryInUseError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
  const shown = config.gateway.host === '0.0.0.0' ? 'localhost' : config.gateway.host;
  logger.info(
    `P3 is running: open http://${shown}:${server.port}/ in two tabs (WebSocket: ws://${shown}:${server.port}/v1/connect)`,
  );

  drainOnSignals(logger, 'clients are told to reconnect, rooms take a final snapshot', () => server.close());
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
