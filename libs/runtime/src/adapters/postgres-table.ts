import pg from 'pg';

/** Options every Postgres adapter takes: a pool to share, or a connection string for one of its own. */
export interface PostgresTableOptions {
  readonly pool?: pg.Pool;
  readonly connectionString?: string;
  /** Table name (a plain identifier). */
  readonly table?: string;
}

/**
 * A Postgres adapter's table and pool: the pool given (shared, the caller ends it) or one of its own (PGUSER, else
 * `postgres`: this machine's $USER may be empty), and the table created once, lazily.
 */
export class PostgresTable {
  readonly pool: pg.Pool;
  readonly name: string;
  private readonly ownsPool: boolean;
  private ready: Promise<void> | undefined;

  constructor(
    options: PostgresTableOptions,
    fallbackName: string,
    private readonly ddl: (table: string) => string,
  ) {
    this.name = options.table ?? fallbackName;
    if (!/^[a-z_][a-z0-9_]*$/.test(this.name)) throw new Error(`invalid table name ${this.name}`);
    this.ownsPool = options.pool === undefined;
    this.pool =
      options.pool ??
      new pg.Pool({ connectionString: options.connectionString, user: process.env.PGUSER ?? 'postgres' });
  }

  /**
   * Creates the table if needed (idempotent; concurrent creators are serialized by an advisory lock, since
   * CREATE TABLE IF NOT EXISTS races on the catalog). A failure is retried by the next call.
   */
  migrate(): Promise<void> {
    this.ready ??= this.create().catch((error: unknown) => {
      this.ready = undefined;
      throw error;
    });
    return this.ready;
  }

  /** Ends the pool if this table created it. */
  async close(): Promise<void> {
    if (this.ownsPool && !this.pool.ended) await this.pool.end();
  }

  private async create(): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [this.name]);
      await client.query(this.ddl(this.name));
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }
}
