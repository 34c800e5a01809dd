import type pg from 'pg';
import { snapshotTableDdl } from '@p3/runtime';

/**
 * Schema migrations of the durable store, in order. Each runs once (recorded in p3_migrations) inside a
 * transaction, under an advisory lock so that several persisters starting together apply them once.
 */
export const migrations: ReadonlyArray<{ readonly id: number; readonly name: string; readonly sql: string }> =
  [{ id: 1, name: 'room snapshots', sql: snapshotTableDdl('room_snapshots') }];

const lockId = 0x50335f6d; // "P3_m"

export async function migrate(pool: pg.Pool): Promise<number[]> {
  const client = await pool.connect();
  const applied: number[] = [];
  try {
    await client.query('SELECT pg_advisory_lock($1)', [lockId]);
    await client.query(
      'CREATE TABLE IF NOT EXISTS p3_migrations (id integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())',
    );
    const done = new Set(
      (await client.query<{ id: number }>('SELECT id FROM p3_migrations')).rows.map((r) => r.id),
    );
    for (const migration of migrations) {
      if (done.has(migration.id)) continue;
      await client.query('BEGIN');
      try {
        await client.query(migration.sql);
        await client.query('INSERT INTO p3_migrations (id, name) VALUES ($1, $2)', [
          migration.id,
          migration.name,
        ]);
        await client.query('COMMIT');
        applied.push(migration.id);
      } catch (error) {
        await client.query('ROLLBACK');
        throw error;
      }
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [lockId]).catch(() => undefined);
    client.release();
  }
  return applied;
}
