import { spawn } from 'node:child_process';
import * as fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileStorage, type FileStorageFs } from '../src/index.js';
import { sampleSnapshot } from './syncStorageContract.js';

let dir = '';
beforeEach(async () => {
  dir = await fsp.mkdtemp(join(tmpdir(), 'ecs-sync-file-'));
});
afterEach(async () => {
  await fsp.rm(dir, { recursive: true, force: true });
});

const list = async () => (await fsp.readdir(dir)).sort();

/** Node's fs with one call replaced. */
function failing(overrides: Partial<FileStorageFs>): FileStorageFs {
  return {
    mkdir: fsp.mkdir,
    open: fsp.open,
    readFile: fsp.readFile,
    rename: fsp.rename,
    unlink: fsp.unlink,
    ...overrides,
  };
}

describe('[FILE-1] FileStorage', () => {
  it('stores <dir>/<encodeURIComponent(roomId)>.json as JSON and creates the directory', async () => {
    const nested = join(dir, 'a', 'b');
    const storage = new FileStorage({ dir: nested, roomId: 'team/room 1' });
    expect(await storage.load()).toBeNull();
    await storage.save(sampleSnapshot());
    expect(storage.file).toBe(join(nested, 'team%2Froom%201.json'));
    expect(JSON.parse(await fsp.readFile(storage.file, 'utf8'))).toEqual(sampleSnapshot());
    expect(await fsp.readdir(nested)).toEqual(['team%2Froom%201.json']);
  });

  it.each([
    [
      'the rename fails',
      { rename: () => Promise.reject(Object.assign(new Error('EIO: rename'), { code: 'EIO' })) },
    ],
    [
      'the write stops half-way',
      {
        open: async (...args: Parameters<typeof fsp.open>) => {
          const handle = await fsp.open(...args);
          return Object.assign(Object.create(handle) as fsp.FileHandle, {
            writeFile: async (text: string) => {
              await handle.writeFile(text.slice(0, text.length / 2));
              throw Object.assign(new Error('ENOSPC: no space left'), { code: 'ENOSPC' });
            },
            sync: () => handle.sync(),
            close: () => handle.close(),
          });
        },
      },
    ],
    [
      'the fsync fails',
      {
        open: async (...args: Parameters<typeof fsp.open>) => {
          const handle = await fsp.open(...args);
          return Object.assign(Object.create(handle) as fsp.FileHandle, {
            writeFile: (text: string) => handle.writeFile(text),
            sync: () => Promise.reject(Object.assign(new Error('EIO: fsync'), { code: 'EIO' })),
            close: () => handle.close(),
          });
        },
      },
    ],
  ] as [string, Partial<FileStorageFs>][])(
    'when %s, the previous file stays intact and loadable, and no temp file is left',
    async (_, fs) => {
      await new FileStorage({ dir, roomId: 'r' }).save(sampleSnapshot(1));
      const broken = new FileStorage({ dir, roomId: 'r', fs: failing(fs) });
      await expect(broken.save(sampleSnapshot(2))).rejects.toThrow();
      expect(await list()).toEqual(['r.json']);
      expect(await new FileStorage({ dir, roomId: 'r' }).load()).toEqual(sampleSnapshot(1));
      // The same instance keeps working once the disk does.
      const healthy = new FileStorage({ dir, roomId: 'r' });
      await healthy.save(sampleSnapshot(3));
      expect(await healthy.load()).toEqual(sampleSnapshot(3));
    },
  );

  it('leftover temp files of a crashed save are ignored', async () => {
    const storage = new FileStorage({ dir, roomId: 'r' });
    await storage.save(sampleSnapshot(1));
    await fsp.writeFile(join(dir, '.r.json.4242.0000.tmp'), '{"timestamp": 2, "state": {"torn');
    expect(await storage.load()).toEqual(sampleSnapshot(1));
    await storage.save(sampleSnapshot(2));
    expect(await new FileStorage({ dir, roomId: 'r' }).load()).toEqual(sampleSnapshot(2));
  });

  it('a process killed while saving in a loop always leaves a complete file', async () => {
    const script = fileURLToPath(new URL('./helpers/crash-saver.ts', import.meta.url));
    for (const savesBeforeKill of [3, 8]) {
      const child = spawn(process.execPath, ['--import', 'tsx', script, dir, 'crash'], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      // Kill it without warning right after it reported a save: it is then in the middle of the next one.
      await new Promise<void>((resolve, reject) => {
        let seen = 0;
        child.once('error', reject);
        child.stdout.on('data', (chunk: Buffer) => {
          seen += chunk.toString().split('\n').filter(Boolean).length;
          if (seen >= savesBeforeKill) resolve();
        });
      });
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
      const loaded = await new FileStorage({ dir, roomId: 'crash' }).load();
      expect(loaded?.timestamp).toBeGreaterThanOrEqual(savesBeforeKill);
      expect(Object.values(loaded!.state).every((data) => data.timestamp === loaded!.timestamp)).toBe(true);
    }
  });

  it('a room file that exists but is not valid JSON makes load() reject instead of returning null', async () => {
    await fsp.writeFile(join(dir, 'r.json'), '{"timestamp": 1, "sta');
    await expect(new FileStorage({ dir, roomId: 'r' }).load()).rejects.toThrow('is not valid JSON');
    await fsp.writeFile(join(dir, 'r.json'), '{"timestamp": "one", "state": {}, "timestamps": {}}');
    await expect(new FileStorage({ dir, roomId: 'r' }).load()).rejects.toThrow('invalid room snapshot');
  });

  it('saves of one instance never overlap and apply in call order', async () => {
    let active = 0;
    let maxActive = 0;
    const renamed: string[] = [];
    const fs = failing({
      open: async (...args: Parameters<typeof fsp.open>) => {
        if (String(args[0]).endsWith('.tmp')) maxActive = Math.max(maxActive, ++active);
        return fsp.open(...args);
      },
      rename: async (from, to) => {
        await fsp.rename(from, to);
        active--;
        renamed.push(JSON.parse(await fsp.readFile(to, 'utf8')).timestamp);
      },
    });
    const storage = new FileStorage({ dir, roomId: 'r', fs });
    await Promise.all([1, 2, 3, 4, 5].map((t) => storage.save(sampleSnapshot(t))));
    expect(maxActive).toBe(1);
    expect(renamed).toEqual([1, 2, 3, 4, 5]);
    expect((await storage.load())?.timestamp).toBe(5);
  });

  it('fsyncs the directory after the rename', async () => {
    const opened: string[] = [];
    const fs = failing({
      open: (...args: Parameters<typeof fsp.open>) => {
        opened.push(`${String(args[0]) === dir ? 'dir' : 'file'}:${String(args[1])}`);
        return fsp.open(...args);
      },
    });
    await new FileStorage({ dir, roomId: 'r', fs }).save(sampleSnapshot());
    expect(opened).toEqual(['file:wx', 'dir:r']);
  });
});

describe('[FILE-2] FileStorage cleans up after crashed saves', () => {
  it("[FILE-2] the first load deletes the temp files its room's crashed saves left, never another room's files", async () => {
    await new FileStorage({ dir, roomId: 'r' }).save(sampleSnapshot(1));
    const orphans = ['.r.json.4242.0b0c6d2e-6a3b-4a8e-9d55-3f1f0f7a1c11.tmp', '.r.json.1.x.tmp'];
    // Temp files of rooms `r.json.x` and `r2`, and files that only look alike.
    const others = [
      '.r.json.x.json.4242.0000.tmp',
      '.r2.json.4242.0000.tmp',
      '.r.json.4242.0000.tmp.bak',
      'r.json.4242.0000.tmp',
      'notes.txt',
    ];
    for (const name of [...orphans, ...others]) await fsp.writeFile(join(dir, name), '{"torn');
    expect(await new FileStorage({ dir, roomId: 'r' }).load()).toEqual(sampleSnapshot(1));
    expect(await list()).toEqual(['r.json', ...others].sort());
  });

  it('[FILE-2] a room never saved loads null, with or without its directory, and its orphans still go', async () => {
    expect(await new FileStorage({ dir: join(dir, 'missing'), roomId: 'r' }).load()).toBeNull();
    await fsp.writeFile(join(dir, '.r.json.77.abc.tmp'), '{"torn');
    expect(await new FileStorage({ dir, roomId: 'r' }).load()).toBeNull();
    expect(await list()).toEqual([]);
  });
});
