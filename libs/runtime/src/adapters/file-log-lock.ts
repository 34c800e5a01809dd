import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The room log's directory is in use by another live process: two logs on one directory would each take the
 * other's unsynced tail for a torn one and cut it off, and delete each other's segments.
 */
export class LogDirectoryInUseError extends Error {
  override readonly name = 'LogDirectoryInUseError';
  readonly code = 'LOG_DIRECTORY_IN_USE';

  constructor(
    readonly dir: string,
    readonly pid: number,
  ) {
    super(
      `the room log in ${dir} is in use by process ${pid}: run one server per data directory ` +
        `(if no server runs, remove ${join(dir, 'LOCK')})`,
    );
  }
}

/**
 * Takes `dir/LOCK` for this process: a file holding the owner's pid, created exclusively. A lock whose owner is
 * gone (a crash, `kill -9`) or is this process (a log reopened in-process, or a pid reused after a restart) is
 * taken over. Returns the release function.
 */
export async function lockLogDirectory(dir: string): Promise<() => Promise<void>> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, 'LOCK');
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const handle = await open(path, 'wx');
      try {
        await handle.writeFile(`${process.pid}\n`);
        await handle.sync();
      } finally {
        await handle.close();
      }
      return () => rm(path, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = Number((await readFile(path, 'utf8').catch(() => '')).trim());
    if (Number.isSafeInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner))
      throw new LogDirectoryInUseError(dir, owner);
    await rm(path, { force: true });
  }
  throw new Error(`cannot lock the room log in ${dir}: its LOCK file keeps coming back`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
