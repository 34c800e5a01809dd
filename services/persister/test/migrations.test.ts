import { afterAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { migrate, migrations } from '@p3/persister';
import { postgresConfig, requirePostgres, uniqueName } from '@p3/test-support';

const schema = uniqueName('p3_persister_test');
const pools: pg.Pool[] = [];

afterAll(async () => {
  for (const pool of pools) await pool.end();
  const admin = await requirePostgres();
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
});

describe('persister migrations', () => {
  it('apply once, even when two persisters start together', async () => {
    const admin = await requirePostgres();
    await admin.query(`CREATE SCHEMA ${schema}`);
    await admin.end();
    const make = () => {
      const pool = new pg.Pool({ ...postgresConfig, options: `-c search_path=${schema}` });
      pools.push(pool);
      return pool;
    };
    const [a, b] = await Promise.all([migrate(make()), migrate(make())]);
    expect([...a, ...b].sort()).toEqual(migrations.map((m) => m.id));
    expect(await migrate(make())).toEqual([]);
    const tables = await make().query(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name`,
      [schema],
    );
    expect(tables.rows.map((r: { table_name: string }) => r.table_name)).toEqual([
      'p3_migrations',
      'room_snapshots',
    ]);
  });
});
