import pg from 'pg';
import { Redis } from 'ioredis';
import { connect, type NatsConnection } from '@nats-io/transport-node';

export const postgresConfig = { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' } as const;

/** A pg pool on the local test database; fails with a clear message when Postgres is down (never skips). */
export async function requirePostgres(): Promise<pg.Pool> {
  const pool = new pg.Pool(postgresConfig);
  try {
    await pool.query('SELECT 1');
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw new Error(
      `this test needs PostgreSQL at 127.0.0.1:5432 (database test, user postgres): ${(error as Error).message}`,
    );
  }
  return pool;
}

/** A table or key prefix unique to this test run, so parallel files never collide. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
}

export function until(predicate: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const poll = () => {
      if (predicate()) return resolve();
      if (Date.now() - started > timeoutMs) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(poll, 5);
    };
    poll();
  });
}

/** Polls `read` (sync or async) until `ok` holds; the timeout error shows the last value read. */
export async function waitFor<T>(
  read: () => Promise<T> | T,
  ok: (value: T) => boolean,
  what: string,
  timeoutMs = 30_000,
): Promise<T> {
  const started = Date.now();
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() - started > timeoutMs)
      throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** An ioredis client on the local Redis; fails with a clear message when Redis is down (never skips). */
export async function requireRedis(): Promise<Redis> {
  const redis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    redis.disconnect();
    throw new Error(`this test needs Redis at 127.0.0.1:6379: ${(error as Error).message}`);
  }
  return redis;
}

/** A NATS connection to the local server; fails with a clear message when NATS is down (never skips). */
export async function requireNats(): Promise<NatsConnection> {
  try {
    return await connect({ servers: '127.0.0.1:4222', reconnect: false, timeout: 2000 });
  } catch (error) {
    throw new Error(`this test needs NATS (with JetStream) at 127.0.0.1:4222: ${(error as Error).message}`);
  }
}
