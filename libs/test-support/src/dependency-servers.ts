import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { chown, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { connect, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onProcessExit } from './process-exit.js';
import { findExecutable, isExecutable, runCommand } from './system-commands.js';

/** Why a dependency server could not be started or driven. */
export const DependencyServerErrorCode = {
  /** The server's binary is not installed; the message names the Debian package. */
  BinaryMissing: 'BINARY_MISSING',
  /** It exited, or did not answer in time; the message carries the tail of its log. */
  StartFailed: 'START_FAILED',
  /** A helper command (initdb, pg_ctl, id) failed. */
  CommandFailed: 'COMMAND_FAILED',
  /** `start()` after `close()`. */
  Closed: 'CLOSED',
} as const;
export type DependencyServerErrorCode =
  (typeof DependencyServerErrorCode)[keyof typeof DependencyServerErrorCode];

export class DependencyServerError extends Error {
  override readonly name = 'DependencyServerError';
  constructor(
    readonly code: DependencyServerErrorCode,
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
  }
}

export type DependencyKind = 'nats' | 'redis' | 'postgres';

/** One start of a server process: what it takes to crash it, stop it, and (synchronously, at exit) get rid of it. */
interface Running {
  readonly pid: number;
  alive(): boolean;
  kill(): Promise<void>;
  stop(): Promise<void>;
  /** For `process.on('exit')`, where nothing asynchronous runs any more. */
  killNow(): void;
}

interface Driver {
  /** Resolves once the server answers on `port`. */
  launch(port: number): Promise<Running>;
  /** Removes what the driver created on disk. */
  dispose(): Promise<void>;
  disposeNow(): void;
}

/**
 * A private NATS, Redis or Postgres that a fault test may crash (`kill`), stop cleanly and start again on the
 * same port, without touching the machine's shared instances. NATS and Postgres keep their data directory across
 * restarts (JetStream streams, tables survive); Redis keeps nothing, like the machine's Redis.
 *
 * @example
 * const redis = await startRedisServer();
 * await redis.kill(); // clients see ECONNREFUSED
 * await redis.start(); // same port, empty
 * await redis.close();
 */
export class DependencyServer {
  private running: Running | undefined;
  private closed = false;
  // Operations run one at a time, so a close() racing a start() never leaves a process behind.
  private queue: Promise<unknown> = Promise.resolve();
  private readonly forgetExitCleanup: () => void;

  private constructor(
    readonly kind: DependencyKind,
    readonly port: number,
    readonly url: string,
    /** NATS: the JetStream store dir; Postgres: the cluster's data dir; Redis: its (unused) working dir. */
    readonly dataDir: string,
    private readonly driver: Driver,
    running: Running,
  ) {
    this.running = running;
    this.forgetExitCleanup = onProcessExit(() => {
      this.running?.killNow();
      this.driver.disposeNow();
    });
  }

  /** @internal Starts the first process; with no port given, retries on another free one if the first was taken. */
  static async launch(
    kind: DependencyKind,
    driver: Driver,
    requestedPort: number | undefined,
    dataDir: string,
    urlOf: (port: number) => string,
  ): Promise<DependencyServer> {
    for (let attempt = 1; ; attempt++) {
      const port = requestedPort ?? (await freePort());
      try {
        const running = await driver.launch(port);
        return new DependencyServer(kind, port, urlOf(port), dataDir, driver, running);
      } catch (error) {
        const portTaken = error instanceof Error && /address already in use/i.test(error.message);
        if (requestedPort === undefined && portTaken && attempt < 3) continue;
        await driver.dispose();
        throw error;
      }
    }
  }

  readonly host = '127.0.0.1';

  /** The server's pid, or undefined while it is down. For Postgres, the postmaster's. */
  get pid(): number | undefined {
    return this.running?.alive() ? this.running.pid : undefined;
  }

  get isRunning(): boolean {
    return this.running?.alive() ?? false;
  }

  /** A crash: SIGKILL (Postgres: `pg_ctl stop -m immediate`, so the next start runs crash recovery). */
  kill(): Promise<void> {
    return this.serially(async () => {
      const running = this.running;
      this.running = undefined;
      await running?.kill();
    });
  }

  /** A clean shutdown (SIGTERM; Postgres: `pg_ctl stop -m fast`). */
  stop(): Promise<void> {
    return this.serially(async () => {
      const running = this.running;
      this.running = undefined;
      await running?.stop();
    });
  }

  /** Starts again on the same port (and data dir). A no-op when it is running. */
  start(): Promise<void> {
    return this.serially(async () => {
      if (this.closed)
        throw new DependencyServerError('CLOSED', `${this.kind} server on ${this.port} is closed`);
      if (this.running?.alive()) return;
      this.running = await this.driver.launch(this.port);
    });
  }

  /** Stops the server and removes its temporary directories. Idempotent. */
  close(): Promise<void> {
    return this.serially(async () => {
      if (this.closed) return;
      this.closed = true;
      const running = this.running;
      this.running = undefined;
      try {
        await running?.stop();
      } catch {
        await running?.kill().catch(() => undefined);
      }
      await this.driver.dispose();
      this.forgetExitCleanup();
    });
  }

  private serially<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.queue.then(operation);
    this.queue = result.catch(() => undefined);
    return result;
  }
}

/** A private `nats-server -js`; a restart keeps its JetStream store. */
export async function startNatsServer(
  options: { port?: number; storeDir?: string } = {},
): Promise<DependencyServer> {
  const binary = await findBinary('nats-server', 'nats-server');
  // A store dir we made is ours to remove on close; one passed in belongs to the caller.
  const ownsDir = options.storeDir === undefined;
  const storeDir = options.storeDir ?? (await ownTempDir('nats'));
  const driver: Driver = {
    launch: (port) =>
      launchChild(
        'nats-server',
        binary,
        ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir],
        // The INFO line comes once the client listener is up, which nats-server opens after JetStream recovered.
        async () => (await firstLine(port, undefined))?.startsWith('INFO ') ?? false,
      ),
    dispose: async () => {
      if (ownsDir) await rm(storeDir, { recursive: true, force: true });
    },
    disposeNow: () => {
      if (ownsDir) rmSync(storeDir, { recursive: true, force: true });
    },
  };
  return DependencyServer.launch(
    'nats',
    driver,
    options.port,
    storeDir,
    (port) => `nats://127.0.0.1:${port}`,
  );
}

/** A private `redis-server` with persistence off: a restart comes back empty. */
export async function startRedisServer(options: { port?: number } = {}): Promise<DependencyServer> {
  const binary = await findBinary('redis-server', 'redis-server');
  const dir = await ownTempDir('redis');
  const driver: Driver = {
    launch: (port) =>
      launchChild(
        'redis-server',
        binary,
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
        async () => (await firstLine(port, 'PING\r\n')) === '+PONG',
      ),
    dispose: () => rm(dir, { recursive: true, force: true }),
    disposeNow: () => rmSync(dir, { recursive: true, force: true }),
  };
  return DependencyServer.launch('redis', driver, options.port, dir, (port) => `redis://127.0.0.1:${port}`);
}

/**
 * A private Postgres cluster (initdb into a temp dir, trust auth, user postgres, fsync off). The server runs as
 * the `postgres` OS user, since Postgres refuses to run as root. A restart keeps the data dir.
 */
export async function startPostgresServer(options: { port?: number } = {}): Promise<DependencyServer> {
  const bin = await postgresBinDir();
  const user = { uid: await idOf('-u'), gid: await idOf('-g') };
  const root = await ownTempDir('pg');
  const dataDir = join(root, 'data');
  const logFile = join(root, 'postgres.log');
  const asPostgres = (program: string, args: readonly string[]) =>
    run(join(bin, program), args, { ...user, cwd: root });
  const logTail = async () => tail(await readFile(logFile, 'utf8').catch(() => ''));
  const pidOf = async () => Number((await readFile(join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
  const pgCtlStop = async (mode: 'immediate' | 'fast') => {
    await asPostgres('pg_ctl', ['-D', dataDir, '-m', mode, '-w', '-t', '30', 'stop']).catch(async (error) => {
      // Already down (it crashed, or was killed): nothing to stop.
      if (/PID file .* does not exist|Is server running/i.test(String(error))) return;
      throw error;
    });
  };

  const driver: Driver = {
    launch: async (port) => {
      const settings = `-p ${port} -k ${root} -c listen_addresses=127.0.0.1 -c fsync=off`;
      try {
        await asPostgres('pg_ctl', ['-D', dataDir, '-l', logFile, '-o', settings, '-w', '-t', '30', 'start']);
      } catch (error) {
        const message = `postgres on ${port} did not start: ${await logTail()}`;
        throw new DependencyServerError('START_FAILED', message, { cause: error });
      }
      const pid = await pidOf();
      return {
        pid,
        alive: () => isAlive(pid),
        kill: () => pgCtlStop('immediate'),
        stop: () => pgCtlStop('fast'),
        // SIGQUIT is the postmaster's immediate shutdown: unlike SIGKILL it takes its backends down with it.
        killNow: () => signal(pid, 'SIGQUIT'),
      };
    },
    dispose: async () => {
      // Covers a cluster left running by a failed start.
      await pgCtlStop('immediate').catch(() => undefined);
      await rm(root, { recursive: true, force: true });
    },
    disposeNow: () => rmSync(root, { recursive: true, force: true }),
  };

  try {
    await chown(root, user.uid, user.gid);
    // -N (no sync): a throwaway cluster does not need initdb's fsyncs (seconds on a loaded disk).
    const initdb = ['-D', dataDir, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-locale', '-N'];
    await asPostgres('initdb', initdb);
  } catch (error) {
    await rm(root, { recursive: true, force: true });
    throw error;
  }
  return DependencyServer.launch(
    'postgres',
    driver,
    options.port,
    dataDir,
    (port) => `postgres://postgres@127.0.0.1:${port}/postgres`,
  );
}

/** `<tmp>/p3-<kind>-<pid>-XXXXXX`: the pid tells `cleanupStaleDependencyServers` whose it is. */
async function ownTempDir(kind: 'nats' | 'redis' | 'pg'): Promise<string> {
  await cleanupStaleDependencyServers();
  return mkdtemp(join(tmpdir(), `p3-${kind}-${process.pid}-`));
}

const TEMP_DIR = /^p3-(nats|redis|pg)-(\d+)-/;

/**
 * Removes the temp dirs of servers whose test process is gone (SIGKILLed, so no exit handler ran), and shuts
 * down a Postgres left running in one (NATS and Redis die with their parent). Runs before every start.
 */
export async function cleanupStaleDependencyServers(): Promise<string[]> {
  const removed: string[] = [];
  for (const entry of await readdir(tmpdir()).catch(() => [] as string[])) {
    const match = TEMP_DIR.exec(entry);
    if (match === null || isAlive(Number(match[2]))) continue;
    const dir = join(tmpdir(), entry);
    if (match[1] === 'pg') {
      const pid = Number(
        (await readFile(join(dir, 'data', 'postmaster.pid'), 'utf8').catch(() => '')).split('\n')[0],
      );
      // Only if that pid is still this cluster's postmaster, not a process that reused the number.
      const command = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      if (pid > 0 && command.includes(dir)) signal(pid, 'SIGQUIT');
    }
    await rm(dir, { recursive: true, force: true });
    removed.push(dir);
  }
  return removed;
}

/** Spawns a server as our child and waits until `ready()` holds; fails with its log when it exits first. */
async function launchChild(
  what: string,
  binary: string,
  args: readonly string[],
  ready: () => Promise<boolean>,
  timeoutMs = 20_000,
): Promise<Running> {
  // setpriv execs the server (same pid) with a parent-death signal: it dies even when the test process is
  // SIGKILLed, which no exit handler survives.
  const setpriv = await findBinary('setpriv', 'util-linux').catch(() => undefined);
  const child: ChildProcess =
    setpriv === undefined
      ? spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn(setpriv, ['--pdeathsig', 'KILL', '--', binary, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const append = (chunk: Buffer) => (log = tail(log + chunk.toString()));
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  let exited = child.exitCode !== null || child.signalCode !== null;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      resolve();
    });
    child.once('error', (error) => {
      log = tail(`${log}\n${error.message}`);
      exited = true;
      resolve();
    });
  });
  const pid = child.pid ?? -1;
  const killAndWait = async (sig: NodeJS.Signals) => {
    if (exited) return;
    child.kill(sig);
    await exit;
  };
  const running: Running = {
    pid,
    alive: () => !exited,
    kill: () => killAndWait('SIGKILL'),
    stop: async () => {
      if (exited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exit;
      clearTimeout(timer);
    },
    killNow: () => {
      if (!exited) child.kill('SIGKILL');
    },
  };

  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited) {
      throw new DependencyServerError(
        'START_FAILED',
        `${what} ${args.join(' ')} exited before it answered: ${log}`,
      );
    }
    if (await ready()) return running;
    if (Date.now() > deadline) {
      await killAndWait('SIGKILL');
      throw new DependencyServerError(
        'START_FAILED',
        `${what} did not answer within ${timeoutMs} ms: ${log}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Connects, optionally sends `send`, and resolves with the first line received (undefined on any failure). */
function firstLine(port: number, send: string | undefined, timeoutMs = 1000): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let received = '';
    const done = (line: string | undefined) => {
      socket.destroy();
      resolve(line);
    };
    socket.setTimeout(timeoutMs, () => done(undefined));
    socket.on('error', () => done(undefined));
    socket.on('connect', () => {
      if (send !== undefined) socket.write(send);
    });
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString();
      const end = received.indexOf('\r\n');
      if (end >= 0) done(received.slice(0, end));
    });
    socket.on('close', () => done(undefined));
  });
}

/** A port free on 127.0.0.1 right now (the kernel's choice). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function findBinary(name: string, debianPackage: string): Promise<string> {
  const found = await findExecutable(name);
  if (found !== undefined) return found;
  throw new DependencyServerError(
    'BINARY_MISSING',
    `${name} not found on PATH or in /usr/sbin: install the Debian package ${debianPackage}`,
  );
}

/** The newest /usr/lib/postgresql/<version>/bin that has initdb and pg_ctl (Debian keeps them off PATH). */
async function postgresBinDir(): Promise<string> {
  const versions = await readdir('/usr/lib/postgresql').catch(() => [] as string[]);
  for (const version of versions.sort((a, b) => Number(b) - Number(a))) {
    const bin = join('/usr/lib/postgresql', version, 'bin');
    if ((await isExecutable(join(bin, 'initdb'))) && (await isExecutable(join(bin, 'pg_ctl')))) return bin;
  }
  throw new DependencyServerError(
    'BINARY_MISSING',
    'initdb/pg_ctl not found under /usr/lib/postgresql/*/bin: install the Debian package postgresql',
  );
}

async function idOf(flag: '-u' | '-g'): Promise<number> {
  const out = await run('id', [flag, 'postgres']).catch((error: unknown) => {
    throw new DependencyServerError(
      'COMMAND_FAILED',
      'no postgres OS user to run the server as (it comes with the Debian package postgresql)',
      { cause: error },
    );
  });
  return Number(out.trim());
}

function run(
  program: string,
  args: readonly string[],
  options: { uid?: number; gid?: number; cwd?: string } = {},
): Promise<string> {
  return runCommand(program, args, options).catch((error: unknown) => {
    throw new DependencyServerError('COMMAND_FAILED', (error as Error).message, { cause: error });
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone.
  }
}

/** The last 2 kB of a log, enough to show why a server did not start. */
function tail(text: string): string {
  return text.length > 2048 ? text.slice(-2048) : text;
}
