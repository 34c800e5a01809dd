import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Redis } from 'ioredis';
import type pg from 'pg';

/** What a cluster asks of its dependencies per second, over one window: the capacity model's inputs. */
export interface DependencyRates {
  /** Messages on the cluster's subjects (`<prefix>.>`: room input and output, inboxes, pulses, the JetStream log). */
  readonly natsMessagesPerSecond: number;
  readonly natsKilobytesPerSecond: number;
  /** Commands Redis processed (the whole server: run it with nothing else on that Redis). */
  readonly redisCommandsPerSecond: number;
  /** Rows inserted or updated in the cluster's snapshot table (one per room per snapshot interval). */
  readonly postgresWritesPerSecond: number;
}

/**
 * Counts, from the outside, what the cluster of `prefix` costs NATS, Redis and Postgres between `start()` and
 * `stop()`. NATS through a wildcard subscription of its own (JetStream's acks travel on reply inboxes, outside the
 * prefix, so they are not counted); Redis from `INFO stats`; Postgres from `pg_stat_user_tables`.
 */
export class DependencyRateMeter {
  private subscription: Subscription | undefined;
  private messages = 0;
  private bytes = 0;
  private startedAt = 0;
  private redisBefore = 0;
  private postgresBefore = 0;

  constructor(
    private readonly nats: NatsConnection,
    private readonly redis: Redis,
    private readonly pool: pg.Pool,
    private readonly prefix: string,
    /** The cluster's Postgres schema (its snapshot table is `<schema>.room_snapshots`). */
    private readonly schema: string,
  ) {}

  async start(): Promise<void> {
    this.subscription = this.nats.subscribe(`${this.prefix}.>`, {
      callback: (_error, message) => {
        this.messages++;
        this.bytes += message.data.byteLength;
      },
    });
    await this.nats.flush();
    [this.redisBefore, this.postgresBefore] = await Promise.all([
      this.redisCommands(),
      this.postgresWrites(),
    ]);
    this.startedAt = performance.now();
  }

  async stop(): Promise<DependencyRates> {
    const seconds = (performance.now() - this.startedAt) / 1000;
    const [redisAfter, postgresAfter] = await Promise.all([this.redisCommands(), this.postgresWrites()]);
    this.subscription?.unsubscribe();
    // The two INFO calls themselves are commands too; negligible over a window of seconds.
    return {
      natsMessagesPerSecond: this.messages / seconds,
      natsKilobytesPerSecond: this.bytes / 1024 / seconds,
      redisCommandsPerSecond: (redisAfter - this.redisBefore) / seconds,
      postgresWritesPerSecond: (postgresAfter - this.postgresBefore) / seconds,
    };
  }

  private async redisCommands(): Promise<number> {
    const info = await this.redis.info('stats');
    return Number(/total_commands_processed:(\d+)/.exec(info)?.[1] ?? 0);
  }

  private async postgresWrites(): Promise<number> {
    const result = await this.pool.query<{ writes: string | null }>(
      `SELECT sum(n_tup_ins + n_tup_upd) AS writes FROM pg_stat_user_tables
       WHERE schemaname = $1 AND relname = 'room_snapshots'`,
      [this.schema],
    );
    return Number(result.rows[0]?.writes ?? 0);
  }
}
