import { randomUUID } from 'node:crypto';
import { mkdir, open, rm, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ConfigError } from '@p3/runtime';

/**
 * Makes sure `dir` can hold P3's files before anything listens: creates it (and missing parents) when needed, then
 * writes, fsyncs and removes a probe file. Throws a ConfigError naming the directory and why it is unusable (a file,
 * not creatable, not writable), instead of failing later: after "listening", on every save, or (Node's recursive
 * `mkdir` under `/proc`) in a busy loop.
 *
 * @example
 * await prepareDataDir(process.env.P3_DATA_DIR ?? './data'); // throws ConfigError: exit 2
 */
export async function prepareDataDir(dir: string): Promise<void> {
  const path = resolve(dir);
  const fail = (reason: string): never => {
    const shown = path === dir ? `"${dir}"` : `"${dir}" (${path})`;
    throw new ConfigError([`data directory ${shown} (P3_DATA_DIR) ${reason}`]);
  };
  await makeDirectory(path, fail);
  const probe = join(path, `.p3-probe-${process.pid}-${randomUUID()}`);
  try {
    const file = await open(probe, 'wx');
    try {
      await file.writeFile('probe');
      await file.sync();
    } finally {
      await file.close();
    }
    await rm(probe, { force: true });
  } catch (error) {
    await rm(probe, { force: true }).catch(() => undefined);
    fail(`is not writable: ${describe(error)}`);
  }
}

/**
 * `mkdir -p` one level at a time. Node's `mkdir(..., { recursive: true })` spins forever where the parent exists
 * but refuses new entries with ENOENT (`/proc/nope`); this gives up with that error instead.
 */
async function makeDirectory(path: string, fail: (reason: string) => never): Promise<void> {
  let info: Stats | undefined;
  try {
    info = await stat(path);
  } catch (error) {
    if (codeOf(error) !== 'ENOENT') fail(`cannot be used: ${describe(error)}`);
  }
  if (info !== undefined) {
    if (!info.isDirectory()) fail('is not a directory (it is a file)');
    return;
  }
  const parent = dirname(path);
  if (parent !== path) await makeDirectory(parent, fail);
  try {
    await mkdir(path);
  } catch (error) {
    if (codeOf(error) !== 'EEXIST') fail(`cannot be created: ${describe(error)}`);
    const again = await stat(path).catch(() => undefined);
    if (again === undefined || !again.isDirectory()) fail('is not a directory (it is a file)');
  }
}

function codeOf(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
