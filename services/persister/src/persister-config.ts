import { EnvReader, type UnknownVariable } from '@p3/runtime';

/** Settings of one persister process (see the README for the environment variables behind them). */
export interface PersisterConfig {
  readonly natsUrl: string;
  readonly databaseUrl: string;
  /**
   * Postgres schema for `room_snapshots` and `p3_migrations` (created if missing, then the pool's `search_path`).
   * Undefined: the server's default search_path (normally `public`). Tests give every run its own schema.
   */
  readonly databaseSchema: string | undefined;
  readonly stream: string;
  readonly subjectPrefix: string;
  /** Durable consumer name; persisters sharing it split the work. */
  readonly consumer: string;
  readonly host: string;
  /** Health and metrics HTTP port; 0 picks a free one (the handle reports it). */
  readonly port: number;
  /** First redelivery delay after a failed write; doubles per delivery up to `retryMaxMs`. */
  readonly retryMinMs: number;
  readonly retryMaxMs: number;
  /** How long NATS waits for an ack before redelivering (a persister that died mid-write). */
  readonly ackWaitMs: number;
  /** Writes in flight at once (also the pool size). */
  readonly concurrency: number;
  /** Postgres is pinged this often, so readiness recovers (and is lost) without traffic. */
  readonly healthCheckMs: number;
  readonly logLevel: string;
}

export const defaultPersisterConfig: PersisterConfig = {
  natsUrl: 'nats://127.0.0.1:4222',
  databaseUrl: 'postgres://postgres@127.0.0.1:5432/postgres',
  databaseSchema: undefined,
  stream: 'P3_SNAPSHOTS',
  subjectPrefix: 'p3',
  consumer: 'p3-persister',
  host: '0.0.0.0',
  port: 8090,
  retryMinMs: 500,
  retryMaxMs: 30_000,
  ackWaitMs: 30_000,
  concurrency: 8,
  healthCheckMs: 2000,
  logLevel: 'info',
};

const nameToken = /^[A-Za-z0-9_-]+$/;
const subjectPrefix = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
const sqlIdentifier = /^[a-z_][a-z0-9_]*$/;

/**
 * Persister settings from P3_* environment variables; throws a ConfigError listing every problem. Variables that
 * start with P3_ but are never read go to `onUnknown` (typos), before any ConfigError is thrown.
 *
 * @example
 * const config = persisterConfigFromEnv(process.env, (v) => console.warn(`unknown ${v.name}`));
 */
export function persisterConfigFromEnv(
  env: Readonly<Record<string, string | undefined>>,
  onUnknown: (variable: UnknownVariable) => void = () => undefined,
  base: PersisterConfig = defaultPersisterConfig,
): PersisterConfig {
  const r = new EnvReader(env);
  const config: PersisterConfig = {
    natsUrl: r.string('P3_NATS_URL', base.natsUrl),
    databaseUrl: r.string('P3_DATABASE_URL', base.databaseUrl, { pattern: /^postgres(ql)?:\/\/\S+$/ }),
    databaseSchema: r.optionalString('P3_DATABASE_SCHEMA') ?? base.databaseSchema,
    stream: r.string('P3_SNAPSHOT_STREAM', base.stream, { pattern: nameToken }),
    subjectPrefix: r.string('P3_SUBJECT_PREFIX', base.subjectPrefix, { pattern: subjectPrefix }),
    consumer: r.string('P3_PERSISTER_CONSUMER', base.consumer, { pattern: nameToken }),
    host: r.string('P3_PERSISTER_HOST', base.host),
    port: r.int('P3_PERSISTER_PORT', base.port, { min: 0, max: 65535 }),
    retryMinMs: r.int('P3_PERSISTER_RETRY_MIN_MS', base.retryMinMs, { min: 10, max: 600_000 }),
    retryMaxMs: r.int('P3_PERSISTER_RETRY_MAX_MS', base.retryMaxMs, { min: 10, max: 3_600_000 }),
    ackWaitMs: r.int('P3_PERSISTER_ACK_WAIT_MS', base.ackWaitMs, { min: 1000, max: 3_600_000 }),
    concurrency: r.int('P3_PERSISTER_CONCURRENCY', base.concurrency, { min: 1, max: 256 }),
    healthCheckMs: r.int('P3_PERSISTER_HEALTH_CHECK_MS', base.healthCheckMs, { min: 50, max: 600_000 }),
    logLevel: r.logLevel(base.logLevel),
  };
  if (config.databaseSchema !== undefined && !sqlIdentifier.test(config.databaseSchema))
    r.problem(`P3_DATABASE_SCHEMA="${config.databaseSchema}" does not match ${sqlIdentifier}`);
  if (config.retryMinMs > config.retryMaxMs)
    r.problem(
      `P3_PERSISTER_RETRY_MIN_MS=${config.retryMinMs} must not exceed P3_PERSISTER_RETRY_MAX_MS=${config.retryMaxMs}`,
    );
  r.finish(onUnknown);
  return config;
}
