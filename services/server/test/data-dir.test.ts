import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '@p3/runtime';
import { P3Server } from '@p3/server';
import { MainProcess } from './support/main-process.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'p3-data-dir-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const stackFrame = /^\s+at /m;
/** Refused before listening: nothing may say it listens. */
const listening = /listening|P3 is running/;

describe('[START-4] the data directory is checked before listening', () => {
  it('a file (P3_DATA_DIR=/etc/passwd) is refused: exit 2, one message', async () => {
    const run = await MainProcess.run({ P3_DATA_DIR: '/etc/passwd', P3_PORT: '0' });
    expect(run.code).toBe(2);
    expect(run.output).toContain('data directory "/etc/passwd" (P3_DATA_DIR) is not a directory');
    expect(run.output).not.toMatch(listening);
    expect(run.output).not.toMatch(stackFrame);
  });

  it('a directory that cannot be created (/sys/nope: EPERM; /proc/nope: Node would spin) is refused at once: exit 2', async () => {
    const [sys, proc] = await Promise.all([
      MainProcess.run({ P3_DATA_DIR: '/sys/nope', P3_PORT: '0' }, 15_000),
      MainProcess.run({ P3_DATA_DIR: '/proc/nope', P3_PORT: '0' }, 15_000),
    ]);
    for (const [run, dir] of [
      [sys, '/sys/nope'],
      [proc, '/proc/nope'],
    ] as const) {
      expect(run.timedOut, run.output).toBe(false);
      expect(run.code, run.output).toBe(2);
      expect(run.output).toContain(`data directory "${dir}" (P3_DATA_DIR) cannot be created`);
      expect(run.output).not.toMatch(listening);
    }
  });

  it('a directory it cannot write to (/proc) is refused: exit 2', async () => {
    const run = await MainProcess.run({ P3_DATA_DIR: '/proc', P3_PORT: '0' }, 15_000);
    expect(run.code, run.output).toBe(2);
    expect(run.output).toContain('data directory "/proc" (P3_DATA_DIR) is not writable');
    expect(run.output).not.toMatch(listening);
  });

  it('P3Server.listen() rejects with a ConfigError for a dataDir below a file, and listens on nothing', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'file'), 'x');
    const server = new P3Server({
      port: 0,
      host: '127.0.0.1',
      dataDir: join(dir, 'file', 'data'),
      logLevel: 'silent',
    });
    cleanups.push(() => server.close());
    const error = await server.listen().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toMatch(/data directory .* cannot be used: ENOTDIR/);
    expect(() => server.port).toThrow(/not listening/);
  });

  it('a missing directory (and its missing parents) is created and probed; no probe file is left', async () => {
    const dir = join(await tempDir(), 'a', 'b', 'data');
    const server = MainProcess.start({ P3_DATA_DIR: dir, P3_PORT: '0' });
    cleanups.push(async () => server.kill());
    await server.port();
    expect((await stat(dir)).isDirectory()).toBe(true);
    expect((await readdir(dir)).filter((name) => name.includes('probe'))).toEqual([]);
    expect(await server.stop()).toEqual({ code: 0, signal: null });
  });
});
