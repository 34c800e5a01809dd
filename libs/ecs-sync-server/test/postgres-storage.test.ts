import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { PostgresStorage } from '../src/index.js';
import { dropTable, lazyTestPool, postgresConfig, uniqueTable } from './helpers/postgres.js';
import { sampleSnapshot } from './syncStorageContract.js';

const pools = lazyTestPool();
const tables: string[] = [];
const table = () => {
  const name = uniqueTable();
  tables.push(name);
  return name;
};

afterAll(async () => {
  const pool = await pools.get().catch(() => undefined);
  if (pool !== undefined) for (const name of tables) await dropTable(pool, name);
  await pools.end();
});

describe('[PG-1] PostgresStorage', () => {
  it('creates its table when missing, with the documented columns', async () => {
    const pool = await pools.get();
    const name = table();
    const storage = new PostgresStorage({ pool, roomId: 'r', table: name });
    expect(await storage.load()).toBeNull();
    const columns = await pool.query<{ column_name: string; data_type: string; is_nullable: string }>(
      'SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position',
      [name],
    );
    expect(columns.rows).toEqual([
      { column_name: 'room_id', data_type: 'text', is_nullable: 'NO' },
      { column_name: 'timestamp', data_type: 'bigint', is_nullable: 'NO' },
      { column_name: 'snapshot', data_type: 'jsonb', is_nullable: 'NO' },
      { column_name: 'updated_at', data_type: 'timestamp with time zone', is_nullable: 'YES' },
    ]);
  });

  it('round-trips a snapshot; the bigint timestamp comes back as a number', async () => {
    const pool = await pools.get();
    const name = table();
    const storage = new PostgresStorage({ pool, roomId: 'r', table: name });
    await storage.save(sampleSnapshot(41));
    const loaded = await storage.load();
    expect(loaded).toEqual(sampleSnapshot(41));
    expect(typeof loaded?.timestamp).toBe('number');
    const row = await pool.query<{ timestamp: unknown; updated_at: unknown }>(
      `SELECT timestamp, updated_at FROM "${name}" WHERE room_id = 'r'`,
    );
    expect(row.rows[0]?.timestamp).toBe('41');
    expect(row.rows[0]?.updated_at).toBeInstanceOf(Date);
  });

  it('never replaces a snapshot with a lower timestamp; an equal one replaces it', async () => {
    const pool = await pools.get();
    const name = table();
    const storage = new PostgresStorage({ pool, roomId: 'r', table: name });
    await storage.save(sampleSnapshot(5));
    await storage.save(sampleSnapshot(3));
    expect((await storage.load())?.timestamp).toBe(5);
    const same = {
      ...sampleSnapshot(5),
      state: { k: { _exists: true, v: 'newer write at the same timestamp' } },
      timestamps: {},
    };
    await storage.save(same);
    expect(await storage.load()).toEqual(same);
  });

  it('two writers racing (two processes) end with the highest timestamp', async () => {
    const pool = await pools.get();
    const name = table();
    const a = new PostgresStorage({ pool, roomId: 'shared', table: name });
    const b = new PostgresStorage({ pool, roomId: 'shared', table: name });
    const timestamps = Array.from({ length: 20 }, (_, i) => i + 1).sort(() => Math.random() - 0.5);
    await Promise.all(timestamps.map((t, i) => (i % 2 === 0 ? a : b).save(sampleSnapshot(t))));
    expect((await a.load())?.timestamp).toBe(20);
  });

  it('many storages using a new table at once all succeed (concurrent CREATE TABLE)', async () => {
    const pool = await pools.get();
    const name = table();
    const storages = Array.from(
      { length: 8 },
      (_, i) => new PostgresStorage({ pool, roomId: `r${i}`, table: name }),
    );
    await Promise.all(storages.map((s, i) => s.save(sampleSnapshot(i + 1))));
    expect(await Promise.all(storages.map(async (s) => (await s.load())?.timestamp))).toEqual([
      1, 2, 3, 4, 5, 6, 7, 8,
    ]);
  });

  it('owns and ends a pool made from connectionString; leaves a given pool open', async () => {
    const pool = await pools.get();
    const name = table();
    const { host, port, user, database } = postgresConfig;
    const password =
      process.env.PGPASSWORD === undefined ? '' : `:${encodeURIComponent(process.env.PGPASSWORD)}`;
    const own = new PostgresStorage({
      connectionString: `postgres://${user}${password}@${host}:${port}/${database}`,
      roomId: randomUUID(),
      table: name,
    });
    await own.save(sampleSnapshot(1));
    expect((await own.load())?.timestamp).toBe(1);
    await own.close();
    await expect(own.load()).rejects.toThrow();

    const shared = new PostgresStorage({ pool, roomId: randomUUID(), table: name });
    await shared.close();
    expect(await shared.load()).toBeNull();
  });

  it('refuses table names that are not plain identifiers', async () => {
    const pool = await pools.get();
    expect(() => new PostgresStorage({ pool, roomId: 'r', table: 'rooms; DROP TABLE x' })).toThrow(
      RangeError,
    );
    expect(() => new PostgresStorage({ pool, roomId: 'r', table: '"quoted"' })).toThrow(RangeError);
  });

  it('rejects a stored snapshot that is not one', async () => {
    const pool = await pools.get();
    const name = table();
    const storage = new PostgresStorage({ pool, roomId: 'bad', table: name });
    await storage.load();
    await pool.query(
      `INSERT INTO "${name}" (room_id, timestamp, snapshot) VALUES ('bad', 1, '{"state": 5}')`,
    );
    await expect(storage.load()).rejects.toThrow('invalid room snapshot');
  });
});
