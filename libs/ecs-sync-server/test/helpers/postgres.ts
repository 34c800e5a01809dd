import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const postgresConfig = { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' } as const;

/** A pool to the test database. Fails (never skips) with a clear message when Postgres is unreachable. */
export async function connectTestPool(): Promise<pg.Pool> {
  const pool = new pg.Pool({ ...postgresConfig, connectionTimeoutMillis: 5000, max: 8 });
  pool.on('error', () => undefined);
  try {
    await pool.query('SELECT 1');
  } catch (error) {
    await pool.end().catch(() => undefined);
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(
      `Postgres is unreachable at ${postgresConfig.host}:${postgresConfig.port} (user ${postgresConfig.user}, database ${postgresConfig.database}): ${reason}. ` +
        'The PostgresStorage tests need a real server and do not skip.',
    );
  }
  return pool;
}

/**
 * One pool per test file, connected on first use. Every test awaits it, so an unreachable server fails each test
 * with the message above (a failing beforeAll would only mark them skipped).
 */
export function lazyTestPool(): { get(): Promise<pg.Pool>; end(): Promise<pg.Pool | undefined> } {
  let connecting: Promise<pg.Pool> | undefined;
  return {
    get: () => (connecting ??= connectTestPool()),
    end: async () => {
      const pool = await connecting?.catch(() => undefined);
      await pool?.end();
      return pool;
    },
  };
}

/** A table name unique to this test run. */
export function uniqueTable(): string {
  return `ecs_sync_rooms_test_${randomBytes(6).toString('hex')}`;
}

export async function dropTable(pool: pg.Pool, table: string): Promise<void> {
  await pool.query(`DROP TABLE IF EXISTS "${table}"`);
}
