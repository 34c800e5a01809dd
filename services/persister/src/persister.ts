import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  jetstream,
  jetstreamManager,
  type Consumer,
  type ConsumerMessages,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import {
  PostgresSnapshotStore,
  decodeSnapshotMessage,
  ensureSnapshotStream,
  roomOfSnapshotSubject,
  startOpsHttpServer,
  type OpsHttpServer,
  type RoomKey,
  type StoredSnapshot,
} from '@p3/runtime';
import pg from 'pg';
import { pino, type Logger } from 'pino';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { migrate } from './migrations.js';
import type { PersisterConfig } from './persister-config.js';

/** What `startPersister` may be given instead of creating it (tests, or a process embedding the persister). */
export interface PersisterDeps {
  readonly logger?: Logger;
  /** A NATS connection the caller owns (and closes). */
  readonly connection?: NatsConnection;
}

export interface PersisterHandle {
  /** Stops pulling, lets in-flight writes finish and ack, then closes what the persister opened. */
  close(): Promise<void>;
  /** Postgres answered the last write or ping, and the consumer is attached. */
  ready(): boolean;
  readonly registry: Registry;
  /** The health/metrics HTTP port actually bound. */
  readonly port: number;
}

/** SQLSTATE class 22 (data exception, e.g. a `\u0000` in jsonb): retrying the same bytes can never succeed. */
function isPermanentWriteError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^22[0-9A-Z]{3}$/.test(code);
}

/** Exponential backoff by delivery count with equal jitter, so persisters do not retry in lockstep. */
export function retryDelayMs(deliveryCount: number, minMs: number, maxMs: number): number {
  const ceiling = Math.min(maxMs, minMs * 2 ** Math.min(30, Math.max(0, deliveryCount - 1)));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}

function decodeMessage(prefix: string, msg: JsMsg): { key: RoomKey; snapshot: StoredSnapshot } | string {
  const room = roomOfSnapshotSubject(prefix, msg.subject);
  if (room === null) return `subject ${msg.subject} is not a snapshot subject`;
  let decoded: { key: RoomKey; snapshot: StoredSnapshot };
  try {
    decoded = decodeSnapshotMessage(msg.data);
  } catch (error) {
    return (error as Error).message;
  }
  // The stream keeps one message per subject: a message naming another room would shadow that subject's own.
  if (decoded.key.tenant !== room.tenant || decoded.key.room !== room.room)
    return `subject ${msg.subject} carries a snapshot of ${decoded.key.tenant}/${decoded.key.room}`;
  return decoded;
}

/** Creates the durable pull consumer, or attaches to the one another persister created. */
async function ensureConsumer(jsm: JetStreamManager, config: PersisterConfig): Promise<void> {
  const filter = `${config.subjectPrefix}.snap.>`;
  const existing = await jsm.consumers.info(config.stream, config.consumer).catch((error: unknown) => {
    if (error instanceof JetStreamApiError && error.code === JetStreamApiCodes.ConsumerNotFound) return null;
    throw error;
  });
  if (existing !== null) {
    if (existing.config.filter_subject !== filter)
      throw new Error(`consumer ${config.consumer} exists with filter ${existing.config.filter_subject}`);
    return;
  }
  await jsm.consumers
    .add(config.stream, {
      durable_name: config.consumer,
      filter_subject: filter,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: config.ackWaitMs * 1_000_000,
      // Never give up on a snapshot: an outage of any length only delays it.
      max_deliver: -1,
      max_ack_pending: 1000,
    })
    .catch(async (error: unknown) => {
      // Another persister created it between our info and add.
      await jsm.consumers.info(config.stream, config.consumer).catch(() => Promise.reject(error));
    });
}

/**
 * Starts a persister: migrates Postgres, ensures the snapshot stream and the durable consumer, then writes each
 * snapshot with the fenced upsert of PostgresSnapshotStore and acks it only after Postgres answered. See SPEC.md.
 *
 * @example
 * const persister = await startPersister(persisterConfigFromEnv(process.env));
 * process.on('SIGTERM', () => void persister.close());
 */
export async function startPersister(
  config: PersisterConfig,
  deps: PersisterDeps = {},
): Promise<PersisterHandle> {
  const logger = deps.logger ?? pino({ level: config.logLevel });
  const registry = new Registry();
  const snapshots = new Counter({
    name: 'p3_persister_snapshots_total',
    help: 'Snapshots consumed, by outcome: saved, stale (Postgres had a newer one), invalid (terminated)',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const retries = new Counter({
    name: 'p3_persister_retries_total',
    help: 'Snapshot writes that failed and were handed back for redelivery',
    registers: [registry],
  });
  const writeSeconds = new Histogram({
    name: 'p3_persister_write_seconds',
    help: 'Duration of successful snapshot upserts',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  for (const outcome of ['saved', 'stale', 'invalid']) snapshots.inc({ outcome }, 0);

  const pool = new pg.Pool({
    connectionString: config.databaseUrl,
    user: process.env.PGUSER ?? 'postgres',
    max: config.concurrency,
    connectionTimeoutMillis: 5000,
    // A query stuck on a half-open socket must fail well before ack_wait, or NATS redelivers it meanwhile.
    query_timeout: Math.max(1000, Math.floor(config.ackWaitMs / 3)),
    ...(config.databaseSchema === undefined ? {} : { options: `-c search_path=${config.databaseSchema}` }),
  });
  // An idle client whose socket died emits 'error'; the pool drops it, the next write reconnects.
  pool.on('error', () => undefined);
  const store = new PostgresSnapshotStore({ pool, table: 'room_snapshots' });

  let nc: NatsConnection | undefined;
  let http: OpsHttpServer | undefined;
  let timer: NodeJS.Timeout | undefined;
  const cleanup = async () => {
    if (timer) clearInterval(timer);
    if (http) await http.close();
    if (nc && deps.connection === undefined) await nc.drain().catch(() => undefined);
    await pool.end().catch(() => undefined);
  };

  try {
    if (config.databaseSchema !== undefined)
      await pool.query(`CREATE SCHEMA IF NOT EXISTS ${config.databaseSchema}`);
    await migrate(pool);
    nc =
      deps.connection ??
      (await connect({ servers: config.natsUrl, maxReconnectAttempts: -1, name: config.consumer }));
    const jsm = await jetstreamManager(nc);
    await ensureSnapshotStream(jsm, { stream: config.stream, prefix: config.subjectPrefix });
    await ensureConsumer(jsm, config);
    const consumer = await jetstream(nc).consumers.get(config.stream, config.consumer);
    const messages = await consumer.consume({ max_messages: config.concurrency * 4 });
    const state = runConsumer(config, logger, store, pool, consumer, messages, nc, {
      snapshots,
      retries,
      writeSeconds,
    });
    new Gauge({
      name: 'p3_persister_pending',
      help: 'Snapshots in the stream not yet delivered to a persister (consumer num_pending)',
      registers: [registry],
      async collect() {
        const info = await state.consumerInfo();
        if (info) this.set(info.num_pending);
      },
    });
    new Gauge({
      name: 'p3_persister_unacked',
      help: 'Snapshots delivered and not yet acked, retries waiting for redelivery included (num_ack_pending)',
      registers: [registry],
      async collect() {
        const info = await state.consumerInfo();
        if (info) this.set(info.num_ack_pending);
      },
    });
    timer = setInterval(() => void state.ping(), config.healthCheckMs);
    timer.unref();
    http = await startOpsHttpServer({
      host: config.host,
      port: config.port,
      registry,
      notReady: () => state.reasons(),
    });
    const port = http.port;
    let closing: Promise<void> | undefined;
    return {
      registry,
      port,
      ready: () => state.reasons().length === 0,
      close: () =>
        (closing ??= (async () => {
          await state.stop();
          await cleanup();
        })()),
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

interface PersisterMetrics {
  readonly snapshots: Counter<'outcome'>;
  readonly retries: Counter;
  readonly writeSeconds: Histogram;
}

interface ConsumerState {
  /** Why the persister is not ready; empty when it is. */
  reasons(): string[];
  ping(): Promise<void>;
  consumerInfo(): Promise<{ num_pending: number; num_ack_pending: number } | null>;
  /** Stops pulling, finishes the messages already received and the writes in flight. */
  stop(): Promise<void>;
}

/** The consume loop, the Postgres health it learns from writes and pings, and the consumer's attachment. */
function runConsumer(
  config: PersisterConfig,
  logger: Logger,
  store: PostgresSnapshotStore,
  pool: pg.Pool,
  consumer: Consumer,
  messages: ConsumerMessages,
  nc: NatsConnection,
  metrics: PersisterMetrics,
): ConsumerState {
  let postgresError: string | undefined;
  let outageStarted = 0;
  let natsProblem: string | undefined;
  let stopping = false;
  const inFlight = new Set<Promise<void>>();

  const postgresOk = () => {
    if (postgresError === undefined) return;
    logger.info({ outageMs: Date.now() - outageStarted }, 'postgres answers again: writes resume');
    postgresError = undefined;
  };
  const postgresFailed = (error: unknown) => {
    // Logged once per outage: a retry per message per backoff step would flood the log.
    if (postgresError === undefined) {
      outageStarted = Date.now();
      logger.error({ err: error }, 'postgres unavailable: snapshots are redelivered until it answers');
    }
    postgresError = (error as Error).message || String(error);
  };

  const handle = async (msg: JsMsg): Promise<void> => {
    const decoded = decodeMessage(config.subjectPrefix, msg);
    if (typeof decoded === 'string') {
      logger.warn(
        { subject: msg.subject, seq: msg.seq, reason: decoded },
        'invalid snapshot message dropped',
      );
      metrics.snapshots.inc({ outcome: 'invalid' });
      msg.term(decoded.slice(0, 200));
      return;
    }
    const end = metrics.writeSeconds.startTimer();
    try {
      const outcome = await store.save(decoded.key, decoded.snapshot);
      end();
      postgresOk();
      metrics.snapshots.inc({ outcome });
      // After the write, never before: a crash between the two redelivers a snapshot the upsert absorbs again.
      // A lost ack costs the same redelivery, so a plain ack (no round trip) is enough.
      msg.ack();
    } catch (error) {
      if (isPermanentWriteError(error)) {
        logger.error({ err: error, subject: msg.subject }, 'snapshot Postgres refuses as data dropped');
        metrics.snapshots.inc({ outcome: 'invalid' });
        msg.term('postgres data exception');
        return;
      }
      postgresFailed(error);
      metrics.retries.inc();
      msg.nak(retryDelayMs(msg.info.deliveryCount, config.retryMinMs, config.retryMaxMs));
    }
  };

  const loop = (async () => {
    for await (const msg of messages) {
      const work = handle(msg).catch((error: unknown) => logger.error({ err: error }, 'snapshot handler'));
      inFlight.add(work);
      void work.finally(() => inFlight.delete(work));
      if (inFlight.size >= config.concurrency) await Promise.race(inFlight);
    }
  })().catch((error: unknown) => {
    if (!stopping) logger.error({ err: error }, 'snapshot consumer stopped');
    natsProblem = `consumer stopped: ${(error as Error).message}`;
  });

  void (async () => {
    for await (const note of messages.status()) {
      if (note.type === 'heartbeats_missed') natsProblem = `missed ${note.count} consumer heartbeats`;
      else if (note.type === 'consumer_not_found' || note.type === 'consumer_deleted')
        natsProblem = `consumer ${config.consumer} not found`;
      else if (note.type === 'stream_not_found') natsProblem = `stream ${config.stream} not found`;
      else if (note.type === 'heartbeat' || note.type === 'next') natsProblem = undefined;
    }
  })();
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect') natsProblem = 'disconnected from NATS';
      else if (status.type === 'reconnect') natsProblem = undefined;
    }
  })();

  return {
    reasons() {
      const reasons: string[] = [];
      if (stopping) reasons.push('draining');
      if (postgresError !== undefined) reasons.push(`postgres: ${postgresError}`);
      if (natsProblem !== undefined) reasons.push(`nats: ${natsProblem}`);
      return reasons;
    },
    async ping() {
      try {
        await pool.query('SELECT 1');
        postgresOk();
      } catch (error) {
        postgresFailed(error);
      }
    },
    async consumerInfo() {
      // /metrics must answer while NATS is away: give up on the info after a second.
      const timeout = new Promise<null>((resolve) => setTimeout(() => resolve(null), 1000).unref());
      return Promise.race([consumer.info().catch(() => null), timeout]);
    },
    async stop() {
      stopping = true;
      // Messages already received are still iterated (close queues the end behind them), so they are written
      // and acked; a pull still on its way is redelivered to another persister after ack_wait.
      await messages.close();
      await loop;
      await Promise.all(inFlight);
      await nc.flush().catch(() => undefined);
    },
  };
}
