import { P3Server } from '@p3/server';

/**
 * The server the crash test kills: a P3Server as a user runs it (file storage in DATA_DIR, or STORAGE=postgres in
 * the local test database; durability `log` by default), with snapshot periods from the environment (short ones make kills land in snapshot writes, long ones
 * leave acknowledged changes only in the log). Prints `ready <port>`.
 */
const dataDir = process.env.DATA_DIR;
if (dataDir === undefined) throw new Error('DATA_DIR is required');
const storage = process.env.STORAGE === 'postgres' ? 'postgres' : 'file';
const server = new P3Server({
  host: '127.0.0.1',
  port: Number(process.env.PORT ?? 0),
  instanceId: process.env.ROOM ?? 'crash',
  storage,
  dataDir,
  databaseUrl: 'postgres://postgres@127.0.0.1:5432/test',
  // P3_DURABILITY=snapshot shows what the crash test catches without the log.
  ...(process.env.P3_DURABILITY === 'snapshot' ? { durability: 'snapshot' as const } : {}),
  logLevel: 'warn',
  simulator: { snapshotIntervalMs: Number(process.env.SNAPSHOT_INTERVAL_MS ?? 5000) },
  documents: { saveThrottleMs: Number(process.env.DOC_SAVE_THROTTLE_MS ?? 1000) },
});
server.createEntityType('counter', {
  fields: { n: { dataType: 'integer', min: 0, max: 1_000_000_000, accessControl: 'client' } },
});
await server.listen();
process.stdout.write(`ready ${server.port}\n`);
