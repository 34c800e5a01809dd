import {
  appendFile,
  mkdtemp,
  open,
  readdir,
  readFile,
  rm,
  stat,
  truncate,
  writeFile,
} from 'node:fs/promises';
import { spawn } from 'node:child_process';
import type { FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { capped } from '@p3/test-support/property';
import pg from 'pg';
import { afterAll, describe, expect, it, vi } from 'vitest';
import type { JsonValue } from '@p3/protocol';
import {
  FileRoomLog,
  LogDirectoryInUseError,
  MemoryRoomLog,
  PostgresRoomLog,
  type FileRoomLogOptions,
  type RoomKey,
} from '@p3/runtime';
import {
  encodeAppend,
  encodeTruncate,
  RECORD_HEADER_BYTES,
  segmentFileName,
  segmentIdOf,
} from '../src/adapters/file-log-segment.js';
import { describeRoomLogContract, type RoomLogHarness } from './room-log.contract.js';

const pgConfig = { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' };
const table = `room_log_test_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
const dirs: string[] = [];

/** A pool on the local test database; fails with a clear message when Postgres is down (never skips). */
async function requirePostgres(): Promise<pg.Pool> {
  const pool = new pg.Pool(pgConfig);
  try {
    await pool.query('SELECT 1');
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw new Error(
      `these tests need PostgreSQL at 127.0.0.1:5432 (database test, user postgres): ${(error as Error).message}`,
    );
  }
  return pool;
}

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'p3-log-'));
  dirs.push(dir);
  return dir;
}

afterAll(async () => {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  const pool = new pg.Pool(pgConfig);
  await pool.query(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
  await pool.end();
});

async function segmentFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((name) => segmentIdOf(name) !== undefined).sort();
}

async function newestSegment(dir: string): Promise<string> {
  const newest = (await segmentFiles(dir)).at(-1);
  if (newest === undefined) throw new Error(`no segment in ${dir}`);
  return join(dir, newest);
}

async function fileHarness(options: Omit<FileRoomLogOptions, 'dir'> = {}): Promise<RoomLogHarness> {
  const dir = await tempDir();
  let latest = await FileRoomLog.open({ dir, ...options });
  return {
    log: latest,
    reopen: async () => {
      await latest.close();
      latest = await FileRoomLog.open({ dir, ...options });
      return latest;
    },
    tearLastRecord: async () => {
      await latest.close();
      // A crash in the middle of writing a record: its header and the first bytes of its payload made it.
      const record = encodeAppend('t', 'torn', 7, { text: 'x'.repeat(200) });
      await appendFile(await newestSegment(dir), record.subarray(0, RECORD_HEADER_BYTES + 50));
    },
    dispose: () => latest.close(),
  };
}

async function postgresHarness(): Promise<RoomLogHarness> {
  const pool = await requirePostgres();
  let latest = new PostgresRoomLog({ pool, table });
  return {
    log: latest,
    reopen: async () => {
      await latest.close();
      latest = new PostgresRoomLog({ pool, table });
      return latest;
    },
    dispose: async () => {
      await latest.close();
      await pool.end();
    },
  };
}

describeRoomLogContract('memory', async () => {
  const log = new MemoryRoomLog();
  return { log, dispose: () => log.close() };
});
describeRoomLogContract('file', () => fileHarness(), { durable: true, tornTail: true });
describeRoomLogContract('file, one segment per batch', () => fileHarness({ maxSegmentBytes: 1 }), {
  durable: true,
  tornTail: true,
});
describeRoomLogContract('postgres', postgresHarness, { durable: true });

const room = (name: string): RoomKey => ({ tenant: 't', room: name });
const versions = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => ({ version: from + i, data: { v: from + i } }));

/** The prototype of every FileHandle: spying on it injects disk errors without a special file system. */
async function fileHandlePrototype(dir: string): Promise<FileHandle> {
  const probe = await open(join(dir, 'probe'), 'w');
  await probe.close();
  return Object.getPrototypeOf(probe) as FileHandle;
}

describe('FileRoomLog', () => {
  it('cuts a torn tail at the last whole record and warns with the bytes dropped', async () => {
    const dir = await tempDir();
    const warn = vi.fn();
    const logger = { warn, info: vi.fn(), error: vi.fn() };
    const log = await FileRoomLog.open({ dir, logger });
    await log.append(room('a'), 1, 'one');
    await log.close();
    const path = await newestSegment(dir);
    const whole = (await stat(path)).size;
    await appendFile(path, Buffer.from([200, 0, 0, 0, 1, 2, 3, 4, 5, 6]));
    const reopened = await FileRoomLog.open({ dir, logger });
    expect((await stat(path)).size).toBe(whole);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]?.[0]).toMatchObject({ file: path, offset: whole, bytes: 10 });
    expect(await reopened.read(room('a'), 0)).toEqual([{ version: 1, data: 'one' }]);
    // Appends after open never go after a repaired tail: they start a new segment.
    await reopened.append(room('a'), 2, 'two');
    expect(await segmentFiles(dir)).toEqual([segmentFileName(1), segmentFileName(2)]);
    await reopened.close();
  });

  it('refuses to open when a record of an older segment is corrupt, naming the file and offset', async () => {
    const dir = await tempDir();
    let log = await FileRoomLog.open({ dir });
    await log.append(room('a'), 1, 'one');
    await log.append(room('a'), 2, 'two');
    await log.close();
    log = await FileRoomLog.open({ dir });
    await log.append(room('a'), 3, 'three');
    await log.close();
    const first = join(dir, segmentFileName(1));
    const bytes = await readFile(first);
    const second = encodeAppend('t', 'a', 1, 'one').length;
    const flipped = second + RECORD_HEADER_BYTES + 3; // a payload byte of the second record
    bytes.writeUInt8(bytes.readUInt8(flipped) ^ 0xff, flipped);
    await writeFile(first, bytes);
    await expect(FileRoomLog.open({ dir })).rejects.toThrow(`${first} at offset ${second}`);
  });

  it('group commit: 1,000 concurrent appends across 100 rooms take far fewer syncs than records', async () => {
    const log = await FileRoomLog.open({ dir: await tempDir() });
    const appends: Promise<void>[] = [];
    for (let version = 1; version <= 10; version += 1) {
      for (let r = 0; r < 100; r += 1) appends.push(log.append(room(`r${r}`), version, { r, version }));
    }
    await Promise.all(appends);
    expect(log.stats.records).toBe(1000);
    expect(log.stats.syncs).toBeLessThan(1000 / 10);
    expect(await log.read(room('r42'), 8)).toEqual([
      { version: 9, data: { r: 42, version: 9 } },
      { version: 10, data: { r: 42, version: 10 } },
    ]);
    await log.close();
  });

  it('an append on an idle log is durable after exactly one sync', async () => {
    const log = await FileRoomLog.open({ dir: await tempDir() });
    for (let version = 1; version <= 5; version += 1) {
      await log.append(room('lone'), version, { version });
      expect(log.stats.syncs).toBe(version);
    }
    expect(log.stats.bytes).toBe(
      [1, 2, 3, 4, 5].reduce((sum, v) => sum + encodeAppend('t', 'lone', v, { version: v }).length, 0),
    );
    await log.close();
  });

  it('deletes segments oldest first once they hold no live record; live records survive a reopen', async () => {
    const dir = await tempDir();
    const options = { dir, maxSegmentBytes: 512, commitIntervalMs: 0 };
    let log = await FileRoomLog.open(options);
    await log.append(room('keep'), 1, 'kept in the oldest segment');
    for (let version = 1; version <= 200; version += 1) {
      await log.append(room('churn'), version, { v: version });
      if (version % 10 === 0) await log.truncate(room('churn'), version - 2);
    }
    // The oldest segment still holds a live record: no newer segment may go before it.
    const blocked = await segmentFiles(dir);
    expect(blocked[0]).toBe(segmentFileName(1));
    expect(blocked.length).toBeGreaterThan(10);

    await log.truncate(room('keep'), 1);
    await log.close(); // waits for the compaction that follows the last sync
    const compacted = await segmentFiles(dir);
    expect(compacted.length).toBeLessThanOrEqual(3);
    expect(compacted[0]).not.toBe(segmentFileName(1));

    log = await FileRoomLog.open(options);
    expect(await log.read(room('churn'), 0)).toEqual(versions(199, 200));
    expect(await log.read(room('keep'), 0)).toEqual([]);
    await log.append(room('churn'), 201, { v: 201 });
    log = await reopenAfter(log, options);
    expect(await log.read(room('churn'), 0)).toEqual(versions(199, 201));
    await log.close();
  });

  it('rejects every append of a batch whose sync failed, and goes on in a new segment', async () => {
    const dir = await tempDir();
    const prototype = await fileHandlePrototype(dir);
    let log = await FileRoomLog.open({ dir, logger: { warn: vi.fn(), info: vi.fn(), error: vi.fn() } });
    await log.append(room('a'), 1, 'acked');
    const datasync = vi
      .spyOn(prototype, 'datasync')
      .mockRejectedValueOnce(new Error('EIO: i/o error, fdatasync'));
    try {
      const failed = await Promise.allSettled([
        log.append(room('a'), 2, 'lost'),
        log.append(room('b'), 1, 'lost'),
      ]);
      expect(failed.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    } finally {
      datasync.mockRestore();
    }
    await log.append(room('a'), 3, 'after');
    expect(await log.read(room('a'), 0)).toEqual([
      { version: 1, data: 'acked' },
      { version: 3, data: 'after' },
    ]);
    expect(await log.read(room('b'), 0)).toEqual([]);
    log = await reopenAfter(log, { dir });
    expect(await log.read(room('a'), 0)).toEqual([
      { version: 1, data: 'acked' },
      { version: 3, data: 'after' },
    ]);
    expect(await log.read(room('b'), 0)).toEqual([]);
    await log.close();
  });

  it('refuses later appends when it cannot move past a write failure; acked records survive a reopen', async () => {
    const dir = await tempDir();
    const prototype = await fileHandlePrototype(dir);
    const error = vi.fn();
    let log = await FileRoomLog.open({ dir, logger: { warn: vi.fn(), info: vi.fn(), error } });
    await log.append(room('a'), 1, 'acked');
    const datasync = vi
      .spyOn(prototype, 'datasync')
      .mockRejectedValue(new Error('EIO: i/o error, fdatasync'));
    try {
      await expect(log.append(room('a'), 2, 'lost')).rejects.toThrow('room log write failed');
      await expect(log.append(room('a'), 3, 'refused')).rejects.toThrow('cannot write any more');
    } finally {
      datasync.mockRestore();
    }
    expect(error).toHaveBeenCalled();
    await expect(log.append(room('a'), 4, 'still refused')).rejects.toThrow('cannot write any more');
    log = await reopenAfter(log, { dir });
    expect(await log.read(room('a'), 0)).toEqual([{ version: 1, data: 'acked' }]);
    await log.append(room('a'), 5, 'after restart');
    expect(await log.read(room('a'), 1)).toEqual([{ version: 5, data: 'after restart' }]);
    await log.close();
  });

  it('a cut anywhere in the newest segment reopens as exactly the whole records before it (property)', async () => {
    type Op =
      { kind: 'append'; room: number; data: JsonValue } | { kind: 'truncate'; room: number; back: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      {
        weight: 4,
        arbitrary: fc.record({
          kind: fc.constant('append' as const),
          room: fc.nat(2),
          // Normalized through JSON (as every log stores it): -0 becomes 0, the typing becomes ours.
          data: fc.jsonValue({ maxDepth: 2 }).map((value) => JSON.parse(JSON.stringify(value)) as JsonValue),
        }),
      },
      {
        weight: 1,
        arbitrary: fc.record({ kind: fc.constant('truncate' as const), room: fc.nat(2), back: fc.nat(3) }),
      },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(op, { minLength: 1, maxLength: 25 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        async (ops, at) => {
          const dir = await mkdtemp(join(tmpdir(), 'p3-log-'));
          try {
            let log = await FileRoomLog.open({ dir });
            const latest = [0, 0, 0];
            const records = ops.map((o) => {
              const name = `r${o.room}`;
              if (o.kind === 'append') {
                const version = (latest[o.room] = (latest[o.room] ?? 0) + 1);
                return { ...o, name, version, bytes: encodeAppend('t', name, version, o.data).length };
              }
              const version = (latest[o.room] ?? 0) - o.back;
              return { ...o, name, version, bytes: encodeTruncate('t', name, version).length };
            });
            // Issued without waiting, so batches mix appends and truncates of every room.
            await Promise.all(
              records.map((r) =>
                r.kind === 'append'
                  ? log.append(room(r.name), r.version, r.data)
                  : log.truncate(room(r.name), r.version),
              ),
            );
            const expected = (count: number) => {
              const model = new Map<string, { version: number; data: JsonValue }[]>();
              for (const r of records.slice(0, count)) {
                const kept = model.get(r.name) ?? [];
                if (r.kind === 'append')
                  kept.push({ version: r.version, data: JSON.parse(JSON.stringify(r.data)) });
                model.set(r.name, r.kind === 'append' ? kept : kept.filter((e) => e.version > r.version));
              }
              return [0, 1, 2].map((i) => model.get(`r${i}`) ?? []);
            };
            const readAll = (from: FileRoomLog) =>
              Promise.all([0, 1, 2].map((i) => from.read(room(`r${i}`), -1)));
            expect(await readAll(log)).toEqual(expected(records.length));
            await log.close();

            const total = records.reduce((sum, r) => sum + r.bytes, 0);
            const cut = Math.floor(at * total);
            let whole = 0;
            for (let end = 0; whole < records.length; whole += 1) {
              end += records[whole]?.bytes ?? 0;
              if (end > cut) break;
            }
            await truncate(join(dir, segmentFileName(1)), cut);
            log = await FileRoomLog.open({ dir });
            expect(await readAll(log)).toEqual(expected(whole));
            await log.close();
          } finally {
            await rm(dir, { recursive: true, force: true });
          }
        },
      ),
      capped({ numRuns: 100 }, 15_000),
    );
  });
});

async function reopenAfter(log: FileRoomLog, options: FileRoomLogOptions): Promise<FileRoomLog> {
  await log.close();
  return FileRoomLog.open(options);
}

describe('PostgresRoomLog', () => {
  it('group commit: appends queued together go in one INSERT', async () => {
    const pool = await requirePostgres();
    const log = new PostgresRoomLog({ pool, table });
    await log.migrate();
    const query = vi.spyOn(pool, 'query');
    const appends: Promise<void>[] = [];
    for (let version = 1; version <= 10; version += 1) {
      for (let r = 0; r < 100; r += 1) appends.push(log.append(room(`pg-gc-${r}`), version, { r, version }));
    }
    await Promise.all(appends);
    const inserts = query.mock.calls.filter(([sql]) => typeof sql === 'string' && sql.startsWith('INSERT'));
    expect(inserts.length).toBeGreaterThan(0);
    expect(inserts.length).toBeLessThan(1000 / 10);
    expect(await log.read(room('pg-gc-42'), 9)).toEqual([{ version: 10, data: { r: 42, version: 10 } }]);
    await log.close();
    await pool.end();
  });

  it('rejects every append of a failed statement, and later appends still work', async () => {
    const pool = await requirePostgres();
    const log = new PostgresRoomLog({ pool, table });
    await log.migrate();
    const k = room(`pg-fail-${Math.random()}`);
    // jsonb cannot hold U+0000: the statement fails, and with it the whole batch.
    const results = await Promise.allSettled([
      log.append(k, 1, 'fine'),
      log.append(k, 2, 'nul \u0000 inside'),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    await log.append(k, 3, 'after');
    expect(await log.read(k, 0)).toEqual([{ version: 3, data: 'after' }]);
    await log.close();
    await pool.end();
  });
});

describe('FileRoomLog directory lock', () => {
  it('[LOG-LOCK] refuses a directory another live process holds, and takes over one left by a dead process', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'p3-log-lock-'));
    const holder = spawn('sleep', ['30']);
    try {
      await writeFile(join(dir, 'LOCK'), `${holder.pid}\n`);
      await expect(FileRoomLog.open({ dir })).rejects.toBeInstanceOf(LogDirectoryInUseError);
    } finally {
      holder.kill('SIGKILL');
      await new Promise((resolve) => holder.once('exit', resolve));
    }
    // The holder is gone (a crash): its lock is stale and the next open takes it over.
    const log = await FileRoomLog.open({ dir });
    expect((await readFile(join(dir, 'LOCK'), 'utf8')).trim()).toBe(String(process.pid));
    await log.close();
    await expect(readFile(join(dir, 'LOCK'), 'utf8')).rejects.toThrow(/ENOENT/);
  });
});
