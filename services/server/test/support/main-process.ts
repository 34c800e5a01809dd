import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../../', import.meta.url));
const main = fileURLToPath(new URL('../../src/main.ts', import.meta.url));

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/**
 * `npm start` as a child process (`node --import tsx services/server/src/main.ts`) with exactly the given `P3_*`
 * settings: the test runner's own `P3_*` variables are not inherited. Output is collected; `waitFor` waits on it.
 */
export class MainProcess {
  private text = '';
  private readonly waiters = new Set<() => void>();
  readonly exited: Promise<Exit>;
  private exit: Exit | undefined;

  private constructor(private readonly child: ChildProcess) {
    const collect = (chunk: Buffer) => {
      this.text += chunk.toString('utf8');
      for (const wake of this.waiters) wake();
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    this.exited = new Promise((resolve) =>
      child.once('close', (code, signal) => {
        this.exit = { code, signal };
        for (const wake of this.waiters) wake();
        resolve(this.exit);
      }),
    );
  }

  static start(env: Readonly<Record<string, string>>): MainProcess {
    const inherited = Object.fromEntries(
      Object.entries(process.env).filter(([name]) => !name.startsWith('P3_')),
    );
    const child = spawn(process.execPath, ['--import', 'tsx', main], {
      cwd: root,
      env: { ...inherited, P3_DEMO: 'false', P3_HOST: '127.0.0.1', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new MainProcess(child);
  }

  /** Runs to its exit; a process still running after `timeoutMs` is killed and reported as `timedOut`. */
  static async run(
    env: Readonly<Record<string, string>>,
    timeoutMs = 20_000,
  ): Promise<Exit & { output: string; timedOut: boolean }> {
    const server = MainProcess.start(env);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const outcome = await Promise.race([server.exited, deadline]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      server.kill();
      const exit = await server.exited;
      return { ...exit, output: server.output, timedOut: true };
    }
    return { ...outcome, output: server.output, timedOut: false };
  }

  /** Everything written to stdout and stderr so far. */
  get output(): string {
    return this.text;
  }

  /** Resolves with the first match of `pattern` in the output; rejects when the process exits or time runs out first. */
  waitFor(pattern: RegExp, timeoutMs = 20_000): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const match = pattern.exec(this.text);
        if (match !== null) finish(() => resolve(match));
        else if (this.exit !== undefined)
          finish(() => reject(new Error(`exited (${this.exit?.code}) before ${pattern}:\n${this.text}`)));
      };
      const timer = setTimeout(
        () => finish(() => reject(new Error(`no ${pattern} within ${timeoutMs} ms:\n${this.text}`))),
        timeoutMs,
      );
      const finish = (settle: () => void) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        settle();
      };
      this.waiters.add(check);
      check();
    });
  }

  /** The port it listens on, once it said so. */
  async port(): Promise<number> {
    const match = await this.waitFor(/P3 is running: open http:\/\/[^:]+:(\d+)\//);
    return Number(match[1]);
  }

  /** SIGTERM (drain and exit), then its exit. */
  async stop(): Promise<Exit> {
    if (this.exit === undefined) this.child.kill('SIGTERM');
    return this.exited;
  }

  /** SIGKILL, for cleanup. */
  kill(): void {
    if (this.exit === undefined) this.child.kill('SIGKILL');
  }
}
