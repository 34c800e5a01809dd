import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { FileStorage, MemoryStorage, PostgresStorage } from '../src/index.js';
import { dropTable, lazyTestPool, uniqueTable } from './helpers/postgres.js';
import { describeSyncStorageContract } from './syncStorageContract.js';

// One memory "disk" per room id, so that a storage made again for an id sees what an earlier one saved.
const memory = new Map<string, MemoryStorage>();
describeSyncStorageContract('MemoryStorage', (roomId) => {
  const storage = memory.get(roomId) ?? new MemoryStorage();
  memory.set(roomId, storage);
  return storage;
});

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ecs-sync-contract-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
describeSyncStorageContract('FileStorage', (roomId) => new FileStorage({ dir: join(dir, 'rooms'), roomId }));

const pools = lazyTestPool();
const table = uniqueTable();
afterAll(async () => {
  const pool = await pools.get().catch(() => undefined);
  if (pool !== undefined) await dropTable(pool, table);
  await pools.end();
});
describeSyncStorageContract(
  'PostgresStorage',
  async (roomId) => new PostgresStorage({ pool: await pools.get(), roomId, table }),
);
