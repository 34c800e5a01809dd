import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { ClusterConnectionConfig } from '../config/cluster-config.js';
import { NatsBus } from './nats-bus.js';
import { RedisFrameBuffer } from './redis-frame-buffer.js';
import { RedisMembership } from './redis-membership.js';
import { RedisRoomLeases } from './redis-room-leases.js';

/** The shared services of one cluster process: one NATS connection, one Redis client, and the ports over them. */
export interface ClusterConnections {
  readonly nats: NatsConnection;
  readonly redis: Redis;
  readonly bus: NatsBus;
  readonly buffer: RedisFrameBuffer;
  /** The live simulators (placement). */
  readonly membership: RedisMembership;
  /** The live gateways: simulators end the sessions of a gateway that left it (died) without a socket close. */
  readonly gateways: RedisMembership;
  readonly leases: RedisRoomLeases;
  /** Why the process is not ready (NATS or Redis not connected); empty when both are. */
  problems(): string[];
  /** Closes the ports, drains NATS and quits Redis. */
  close(): Promise<void>;
}

/**
 * Connects to NATS and Redis and builds the ports over them. Both clients reconnect forever after a loss (the
 * process stays up and not ready meanwhile); the first connection must succeed within a few seconds, or this
 * rejects with a readable reason.
 *
 * @example
 * const cluster = await connectCluster(config.cluster, { name: 'gateway-1', logger });
 */
export async function connectCluster(
  config: ClusterConnectionConfig,
  options: { readonly name: string; readonly logger: Logger },
): Promise<ClusterConnections> {
  const { logger } = options;
  let nats: NatsConnection;
  try {
    nats = await connect({
      servers: config.natsUrl,
      name: options.name,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      timeout: 5000,
    });
  } catch (error) {
    throw new Error(`cannot connect to NATS at ${config.natsUrl}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const redis = new Redis(config.redisUrl, {
    lazyConnect: true,
    connectionName: options.name,
    maxRetriesPerRequest: 2,
    connectTimeout: 5000,
    retryStrategy: (attempt) => Math.min(1000, 50 * attempt),
  });
  redis.on('error', (error: Error) => logger.warn({ err: error }, 'redis error'));
  try {
    await redis.connect();
  } catch (error) {
    await nats.close();
    redis.disconnect();
    throw new Error(`cannot connect to Redis at ${config.redisUrl}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const bus = new NatsBus({ connection: nats, prefix: config.prefix, logger });
  const buffer = new RedisFrameBuffer({ redis, prefix: config.prefix });
  const membership = new RedisMembership({ redis, prefix: config.prefix });
  const gateways = new RedisMembership({ redis, prefix: `${config.prefix}:gw` });
  const leases = new RedisRoomLeases({ redis, prefix: config.prefix });
  return {
    nats,
    redis,
    bus,
    buffer,
    membership,
    gateways,
    leases,
    problems() {
      const problems: string[] = [];
      if (nats.isClosed() || nats.isDraining()) problems.push('NATS connection closed');
      if (redis.status !== 'ready') problems.push(`Redis ${redis.status}`);
      return problems;
    },
    async close() {
      await bus.close().catch(() => undefined);
      await buffer.close().catch(() => undefined);
      await membership.close().catch(() => undefined);
      await gateways.close().catch(() => undefined);
      await leases.close().catch(() => undefined);
      await nats.drain().catch(() => undefined);
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
