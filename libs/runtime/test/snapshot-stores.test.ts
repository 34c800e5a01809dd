import { mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { FileSnapshotStore, MemorySnapshotStore, PostgresSnapshotStore } from '@p3/runtime';
import { describeSnapshotStoreContract } from './snapshot-store.contract.js';

const tables: string[] = [];
const pgConfig = { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' };

async function postgresStore(): Promise<PostgresSnapshotStore> {
  const pool = new pg.Pool(pgConfig);
  try {
    await pool.query('SELECT 1');
  } catch (error) {
    await pool.end();
    throw new Error(
      `Postgres is required at 127.0.0.1:5432 (database test, user postgres): ${(error as Error).message}`,
    );
  }
  const table = `room_snapshots_test_${Math.random().toString(36).slice(2, 10)}`;
  tables.push(table);
  const store = new PostgresSnapshotStore({ pool, table });
  const close = store.close.bind(store);
  store.close = async () => {
    await close();
    await pool.end();
  };
  return store;
}

afterAll(async () => {
  if (tables.length === 0) return;
  const pool = new pg.Pool(pgConfig);
  for (const table of tables) await pool.query(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
  await pool.end();
});

describeSnapshotStoreContract('memory', async () => new MemorySnapshotStore());
describeSnapshotStoreContract(
  'file',
  async () => new FileSnapshotStore(await mkdtemp(join(tmpdir(), 'p3-snap-'))),
);
describeSnapshotStoreContract('postgres', postgresStore);

describe('FileSnapshotStore', () => {
  it('keeps the previous snapshot when a crash leaves a half-written temp file behind', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'p3-snap-'));
    const store = new FileSnapshotStore(dir);
    const key = { tenant: 'default', room: 'r/1' };
    await store.save(key, { kind: 'world', version: 1, epoch: 0, data: { ok: true } });
    const folder = join(dir, 'default');
    await writeFile(join(folder, `${encodeURIComponent('r/1')}.json.999.1.tmp`), '{"kind":"world","vers');
    expect(await store.load(key)).toEqual({ kind: 'world', version: 1, epoch: 0, data: { ok: true } });
    expect((await readdir(folder)).filter((f) => f.endsWith('.json'))).toEqual([
      `${encodeURIComponent('r/1')}.json`,
    ]);
  });

  it('removes temp files a crashed save left behind when it first opens their folder', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'p3-snap-'));
    const key = { tenant: 'default', room: 'r' };
    await new FileSnapshotStore(dir).save(key, { kind: 'world', version: 1, epoch: 0, data: {} });
    const folder = join(dir, 'default');
    await writeFile(join(folder, 'r.json.4242.7.tmp'), '{"torn');
    await writeFile(join(folder, 'other.json.1.1.tmp'), '');
    const restarted = new FileSnapshotStore(dir);
    expect((await restarted.load(key))?.version).toBe(1);
    expect(await readdir(folder)).toEqual(['r.json']);
  });
});
