import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { delimiter, join } from 'node:path';

/** A system command that failed: its command line and what it wrote to stderr. */
export class CommandError extends Error {
  override readonly name = 'CommandError';
  constructor(
    readonly command: string,
    readonly stderr: string,
    cause: unknown,
  ) {
    super(`${command} failed: ${stderr.trim() || (cause as Error).message}`, { cause });
  }
}

/** Where `name` is installed: PATH first, then the sbin directories Debian keeps off a user's PATH. */
export async function findExecutable(name: string): Promise<string | undefined> {
  const dirs = [
    ...(process.env['PATH'] ?? '').split(delimiter),
    '/usr/sbin',
    '/usr/local/sbin',
    '/sbin',
    '/usr/bin',
  ];
  for (const dir of dirs.filter((d) => d !== '')) {
    const candidate = join(dir, name);
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
}

export function isExecutable(path: string): Promise<boolean> {
  return access(path, constants.X_OK).then(
    () => true,
    () => false,
  );
}

/** Runs a program to completion; resolves with its stdout, rejects with a CommandError. */
export function runCommand(
  program: string,
  args: readonly string[],
  options: {
    readonly uid?: number;
    readonly gid?: number;
    readonly cwd?: string;
    readonly timeoutMs?: number;
  } = {},
): Promise<string> {
  const { timeoutMs = 60_000, ...rest } = options;
  return new Promise((resolve, reject) => {
    execFile(program, args, { ...rest, timeout: timeoutMs }, (error, stdout, stderr) => {
      if (error === null) resolve(stdout);
      else reject(new CommandError([program, ...args].join(' '), stderr, error));
    });
  });
}
