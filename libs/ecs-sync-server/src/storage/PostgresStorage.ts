import pg from 'pg';
import type { Pool } from 'pg';
import { isPlainObject } from '@p3/protocol';
import { parseRoomSnapshot } from '../roomSnapshot.js';
import type { RoomSnapshot } from '../types.js';
import type { ClosableStorage, SyncStorage } from './SyncStorage.js';

export type PostgresStorageOptions = {
  roomId: string;
  /** Table name (a plain SQL identifier); created when missing. Default `ecs_sync_rooms`. */
  table?: string;
  /** Receives errors of idle pooled connections of a pool this storage created. Default: console.error. */
  onError?: (error: unknown) => void;
} & ({ pool: Pool; connectionString?: undefined } | { connectionString: string; pool?: undefined });

/** Marks a snapshot stored base64-encoded because jsonb refuses its text (NUL characters, lone surrogates). */
const envelopeTag = 'p3-ecs-sync-snapshot-base64';

/**
 * One row per room in Postgres: `room_id text primary key, timestamp bigint not null, snapshot jsonb not null,
 * updated_at timestamptz`. The table is created on first use.
 *
 * A save never replaces a stored snapshot with a lower timestamp (`ON CONFLICT ... WHERE timestamp <=`): a late
 * save of an older state (a slow process, a retry) cannot roll the document back. Such a save resolves without
 * writing. Pass `pool` to share one pool between rooms (it is not ended by `close()`), or `connectionString` to
 * let the storage own one.
 *
 * @example
 * const storage = new PostgresStorage({ pool, roomId: 'my-room' });
 */
export class PostgresStorage implements SyncStorage, ClosableStorage {
  private readonly pool: Pool;
  private readonly ownsPool: boolean;
  private readonly roomId: string;
  private readonly table: string;
  private ready: Promise<void> | undefined;

  constructor(options: PostgresStorageOptions) {
    const table = options.table ?? 'ecs_sync_rooms';
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(table))
      throw new RangeError(`table must be a plain SQL identifier, got "${table}"`);
    this.table = `"${table}"`;
    this.roomId = options.roomId;
    if (options.pool !== undefined) {
      this.pool = options.pool;
      this.ownsPool = false;
    } else {
      this.pool = new pg.Pool({ connectionString: options.connectionString });
      this.ownsPool = true;
      // An idle client's error is emitted on the pool; unhandled, it would crash the process.
      const onError =
        options.onError ?? ((error: unknown) => console.error('[ecs-sync-server] postgres pool:', error));
      this.pool.on('error', onError);
    }
  }

  async load(): Promise<RoomSnapshot | null> {
    await this.ensureTable();
    const result = await this.pool.query<{ timestamp: string; snapshot: unknown }>(
      `SELECT timestamp, snapshot FROM ${this.table} WHERE room_id = $1`,
      [this.roomId],
    );
    const row = result.rows[0];
    if (row === undefined) return null;
    // bigint arrives as a string (it may exceed 2^53); the room's timestamps stay far below that.
    const timestamp = Number(row.timestamp);
    if (!Number.isSafeInteger(timestamp))
      throw new RangeError(`room ${this.roomId}: timestamp ${row.timestamp} is not a safe integer`);
    return { ...parseRoomSnapshot(unwrap(row.snapshot)), timestamp };
  }

  async save(snapshot: RoomSnapshot): Promise<void> {
    await this.ensureTable();
    await this.pool.query(
      `INSERT INTO ${this.table} (room_id, timestamp, snapshot, updated_at) VALUES ($1, $2, $3::jsonb, now())
       ON CONFLICT (room_id) DO UPDATE
         SET timestamp = EXCLUDED.timestamp, snapshot = EXCLUDED.snapshot, updated_at = EXCLUDED.updated_at
         WHERE ${this.table}.timestamp <= EXCLUDED.timestamp`,
      [this.roomId, snapshot.timestamp, wrap(snapshot)],
    );
  }

  /** Ends the pool when this storage created it. */
  async close(): Promise<void> {
    if (this.ownsPool) await this.pool.end();
  }

  private ensureTable(): Promise<void> {
    this.ready ??= this.createTable().catch((error: unknown) => {
      this.ready = undefined;
      throw error;
    });
    return this.ready;
  }

  /** Concurrent CREATE TABLE IF NOT EXISTS can race on the catalog: an advisory lock serializes them. */
  private async createTable(): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [this.table]);
      await client.query(`CREATE TABLE IF NOT EXISTS ${this.table} (
        room_id text PRIMARY KEY, timestamp bigint NOT NULL, snapshot jsonb NOT NULL, updated_at timestamptz)`);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }
}

/** jsonb refuses `\u0000` and unpaired surrogates; such snapshots are stored base64-encoded in an envelope. */
function wrap(snapshot: RoomSnapshot): string {
  const text = JSON.stringify(snapshot);
  if (!/\\u(0000|d[89a-f][0-9a-f]{2})/i.test(text)) return text;
  return JSON.stringify({ [envelopeTag]: Buffer.from(text, 'utf8').toString('base64') });
}

function unwrap(value: unknown): unknown {
  if (!isPlainObject(value) || typeof value[envelopeTag] !== 'string') return value;
  return JSON.parse(Buffer.from(value[envelopeTag], 'base64').toString('utf8')) as unknown;
}
