import { hostname } from 'node:os';
import { randomId } from '../random-id.js';
import type { EnvReader } from './env-reader.js';

/** Where a cluster process finds the shared services, and the prefix that keeps deployments apart. */
export interface ClusterConnectionConfig {
  readonly natsUrl: string;
  readonly redisUrl: string;
  /**
   * First token of every bus subject and of the JetStream subjects, and the prefix of every Redis key: two
   * deployments (or test runs) with different prefixes share NATS and Redis without seeing each other.
   */
  readonly prefix: string;
}

/** Reads P3_NATS_URL, P3_REDIS_URL and P3_SUBJECT_PREFIX (problems are recorded on the reader). */
export function clusterConnectionFromEnv(r: EnvReader): ClusterConnectionConfig {
  return {
    natsUrl: r.string('P3_NATS_URL', 'nats://127.0.0.1:4222'),
    redisUrl: r.string('P3_REDIS_URL', 'redis://127.0.0.1:6379', { pattern: /^rediss?:\/\/\S+$/ }),
    prefix: r.string('P3_SUBJECT_PREFIX', 'p3', { pattern: /^[A-Za-z0-9_-]{1,64}$/ }),
  };
}

/**
 * A process id for membership, placement and inboxes: unique per process start, so a restarted process never
 * adopts its previous incarnation's leases (they expire instead). `<role>-<host>-<pid>-<random>` unless `given`.
 */
export function processMemberId(role: string, given: string | undefined): string {
  if (given !== undefined) return given;
  const host =
    hostname()
      .replace(/[^A-Za-z0-9_-]/g, '')
      .slice(0, 32) || 'host';
  return `${role}-${host}-${process.pid}-${randomId(4)}`;
}
