import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

/** The repository root: children run from it, so `--import tsx` resolves the workspace's tsx. */
export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/** Absolute path of a script next to this file. */
export function scriptPath(name: string): string {
  return fileURLToPath(new URL(name, import.meta.url));
}

/**
 * A child process of the benchmark, run as `node [nodeArgs] --import tsx script.ts` (or plain `node` for a `.mjs`
 * bundle): one process, so its pid is the one whose /proc stats are read (the `tsx` CLI would put a wrapper
 * process in between). Its stdout is read as JSON lines; other lines go to our stderr. Its stdin stays open: the
 * child exits when it closes, and `send` writes JSON lines (commands) on it.
 */
export class TsProcess {
  readonly child: ChildProcess;
  private readonly lines: unknown[] = [];
  private waiters: Array<() => void> = [];
  private exited = false;

  constructor(
    readonly name: string,
    script: string,
    args: readonly string[],
    nodeArgs: readonly string[] = [],
  ) {
    const loader = script.endsWith('.ts') ? ['--import', 'tsx'] : [];
    this.child = spawn(process.execPath, [...nodeArgs, ...loader, script, ...args], {
      cwd: repoRoot,
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    // The child watches its stdin to notice our exit; an EPIPE on it must not crash us.
    this.child.stdin?.on('error', () => undefined);
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        process.stderr.write(`[${name}] ${line}\n`);
        return;
      }
      this.lines.push(value);
      this.wakeWaiters();
    });
    this.child.on('exit', () => {
      this.exited = true;
      this.wakeWaiters();
    });
  }

  get pid(): number {
    const pid = this.child.pid;
    if (pid === undefined) throw new Error(`${this.name} did not start`);
    return pid;
  }

  /** Writes one JSON line on the child's stdin. */
  send(value: object): void {
    if (this.exited) throw new Error(`${this.name} exited before it could be sent ${JSON.stringify(value)}`);
    this.child.stdin?.write(`${JSON.stringify(value)}\n`);
  }

  /** The next JSON line passing `test` (lines before it are consumed); fails on timeout or child exit. */
  async next<T>(what: string, test: (value: unknown) => value is T, timeoutMs: number): Promise<T> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      while (this.lines.length > 0) {
        const value = this.lines.shift();
        if (test(value)) return value;
      }
      if (this.exited)
        throw new Error(
          `${this.name} exited (code ${this.child.exitCode}, signal ${this.child.signalCode}) before ${what}`,
        );
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`${this.name}: no ${what} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Ends the child: stdin closed and SIGTERM (it stops by itself), SIGKILL after `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    if (this.exited) return;
    this.child.stdin?.end();
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    try {
      if (!this.exited) await once(this.child, 'exit');
    } finally {
      clearTimeout(timer);
    }
  }

  private wakeWaiters(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}

/** A line with `event: name`. */
export function isEvent<E extends string>(name: E): (value: unknown) => value is { event: E } {
  return (value: unknown): value is { event: E } =>
    typeof value === 'object' && value !== null && (value as { event?: unknown }).event === name;
}

/** The first line of a server process: `{"port": N, "pid": N}`. */
export function isPortLine(value: unknown): value is { port: number } {
  return (
    typeof value === 'object' && value !== null && typeof (value as { port?: unknown }).port === 'number'
  );
}
