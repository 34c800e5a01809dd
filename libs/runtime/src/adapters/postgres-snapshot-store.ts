import pg from 'pg';
import type { RoomKey, SaveOutcome, SnapshotStore, StoredSnapshot } from '../ports/snapshot-store.js';

/** The schema the cluster uses for durable snapshots (the persister runs it at start-up). */
export function snapshotTableDdl(table: string): string {
  return `CREATE TABLE IF NOT EXISTS ${table} (
  tenant text NOT NULL,
  room text NOT NULL,
  kind text NOT NULL,
  version bigint NOT NULL,
  epoch bigint NOT NULL,
  team text,
  snapshot jsonb NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant, room)
)`;
}

export interface PostgresSnapshotStoreOptions {
  readonly pool?: pg.Pool;
  readonly connectionString?: string;
  /** Table name (a plain identifier). Default `room_snapshots`. */
  readonly table?: string;
}

/**
 * Snapshots in Postgres with an epoch-fenced, versioned upsert: an older epoch or version never overwrites a
 * newer row (the WHERE of the ON CONFLICT clause decides atomically, inside Postgres).
 */
export class PostgresSnapshotStore implements SnapshotStore {
  private readonly pool: pg.Pool;
  private readonly ownsPool: boolean;
  private readonly table: string;
  private ready: Promise<void> | undefined;

  constructor(options: PostgresSnapshotStoreOptions = {}) {
    this.table = options.table ?? 'room_snapshots';
    if (!/^[a-z_][a-z0-9_]*$/.test(this.table)) throw new Error(`invalid table name ${this.table}`);
    this.ownsPool = options.pool === undefined;
    this.pool =
      options.pool ??
      new pg.Pool({ connectionString: options.connectionString, user: process.env.PGUSER ?? 'postgres' });
  }

  /**
   * Creates the table if needed (idempotent; concurrent creators are serialized by an advisory lock, since
   * CREATE TABLE IF NOT EXISTS races on the catalog). Called lazily by load and save.
   */
  migrate(): Promise<void> {
    this.ready ??= this.createTable().catch((error: unknown) => {
      this.ready = undefined;
      throw error;
    });
    return this.ready;
  }

  private async createTable(): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [this.table]);
      await client.query(snapshotTableDdl(this.table));
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  async load(key: RoomKey): Promise<StoredSnapshot | null> {
    await this.migrate();
    const result = await this.pool.query<{
      kind: StoredSnapshot['kind'];
      version: string;
      epoch: string;
      team: string | null;
      snapshot: unknown;
    }>(`SELECT kind, version, epoch, team, snapshot FROM ${this.table} WHERE tenant = $1 AND room = $2`, [
      key.tenant,
      key.room,
    ]);
    const row = result.rows[0];
    if (!row) return null;
    const stored = {
      kind: row.kind,
      version: Number(row.version),
      epoch: Number(row.epoch),
      data: row.snapshot,
    };
    return row.team === null ? stored : { ...stored, team: row.team };
  }

  async save(key: RoomKey, snapshot: StoredSnapshot): Promise<SaveOutcome> {
    await this.migrate();
    const result = await this.pool.query(
      `INSERT INTO ${this.table} AS t (tenant, room, kind, version, epoch, team, snapshot, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, now())
       ON CONFLICT (tenant, room) DO UPDATE
         SET kind = excluded.kind, version = excluded.version, epoch = excluded.epoch,
             team = COALESCE(excluded.team, t.team), snapshot = excluded.snapshot, updated_at = now()
         WHERE excluded.epoch > t.epoch OR (excluded.epoch = t.epoch AND excluded.version >= t.version)`,
      [
        key.tenant,
        key.room,
        snapshot.kind,
        snapshot.version,
        snapshot.epoch,
        snapshot.team ?? null,
        JSON.stringify(snapshot.data),
      ],
    );
    return result.rowCount === 1 ? 'saved' : 'stale';
  }

  async close(): Promise<void> {
    if (this.ownsPool) await this.pool.end();
  }
}
