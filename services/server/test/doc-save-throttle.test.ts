import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { MainProcess } from './support/main-process.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

/** The snapshot files under the data directory (the room log, which holds every change at once, left out). */
async function snapshotsContaining(dir: string, text: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.json')) continue;
    const path = join(entry.parentPath, entry.name);
    if ((await readFile(path, 'utf8')).includes(text)) found.push(path);
  }
  return found;
}

describe('[START-7] the document save throttle (P3_DOC_SAVE_THROTTLE_MS)', () => {
  it('npm start saves a changed document room at most once per P3_DOC_SAVE_THROTTLE_MS; a drain saves it at once', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'p3-doc-throttle-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const server = MainProcess.start({ P3_DATA_DIR: dir, P3_PORT: '0', P3_DOC_SAVE_THROTTLE_MS: '600000' });
    cleanups.push(async () => server.kill());
    const port = await server.port();
    const marker = `throttled-${process.pid}-${Date.now()}`;
    const response = await fetch(`http://127.0.0.1:${port}/v1/rooms/throttle-doc/changes`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ patches: [{ note: { text: marker } }] }),
    });
    expect(response.status).toBe(200);
    // The default throttle (1 s) would have saved by now; ten minutes has not. (A negative needs a wait.)
    await sleep(2500);
    expect(await snapshotsContaining(dir, marker)).toEqual([]);
    expect(await server.stop()).toEqual({ code: 0, signal: null });
    expect(await snapshotsContaining(dir, marker)).toHaveLength(1);
  });
});
