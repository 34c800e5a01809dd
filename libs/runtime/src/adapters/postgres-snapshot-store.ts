import type { RoomKey, SaveOutcome, SnapshotStore, StoredSnapshot } from '../ports/snapshot-store.js';
import { PostgresTable, type PostgresTableOptions } from './postgres-table.js';

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

export type PostgresSnapshotStoreOptions = PostgresTableOptions;

/**
 * Snapshots in Postgres with an epoch-fenced, versioned upsert: an older epoch or version never overwrites a
 * newer row (the WHERE of the ON CONFLICT clause decides atomically, inside Postgres). Table default
 * `room_snapshots`.
 */
export class PostgresSnapshotStore implements SnapshotStore {
  private readonly table: PostgresTable;

  constructor(options: PostgresSnapshotStoreOptions = {}) {
    this.table = new PostgresTable(options, 'room_snapshots', snapshotTableDdl);
  }

  /** Creates the table if needed (see PostgresTable.migrate). Called lazily by load and save. */
  migrate(): Promise<void> {
    return this.table.migrate();
  }

  async load(key: RoomKey): Promise<StoredSnapshot | null> {
    await this.migrate();
    const result = await this.table.pool.query<{
      kind: StoredSnapshot['kind'];
      version: string;
      epoch: string;
      team: string | null;
      snapshot: unknown;
    }>(
      `SELECT kind, version, epoch, team, snapshot FROM ${this.table.name} WHERE tenant = $1 AND room = $2`,
      [key.tenant, key.room],
    );
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
    const result = await this.table.pool.query(
      `INSERT INTO ${this.table.name} AS t (tenant, room, kind, version, epoch, team, snapshot, updated_at)
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

  close(): Promise<void> {
    return this.table.close();
  }
}
