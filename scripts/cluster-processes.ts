// The local cluster as OS processes: 2 gateways, 2 simulators and 1 persister started from the build (`dist/*.mjs`),
// each its own `node` process against the local NATS, Redis and Postgres. Used by `npm run cluster` and by the
// multi-process tests (which give every run its own prefix, streams, consumer, schema and ports).
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

export type ServiceName = 'gateway' | 'simulator' | 'persister';

export interface ClusterProcess {
  readonly service: ServiceName;
  /** 1-based within its service: `gateway-1`, `gateway-2`. */
  readonly index: number;
  readonly name: string;
  /** The service's HTTP port (the gateway's WebSocket port; the others' /healthz and /metrics). */
  readonly port: number;
  /** Where the port is reached: 127.0.0.1, or the address of the network namespace it runs in. */
  readonly address: string;
  readonly child: ChildProcess;
  /** Everything the process wrote (stdout and stderr), for a test's failure message. */
  readonly output: () => string;
  /** Resolves with the exit code (or the signal name) once the process ended. */
  readonly exited: Promise<number | string>;
  /** From spawn to the first /readyz 200, in ms. */
  readonly startupMs: number;
  /** Resident memory when it became ready, in bytes (0 where /proc is not readable). */
  readonly readyRssBytes: number;
}

export interface ClusterOptions {
  /** Directory holding gateway.mjs, simulator.mjs, persister.mjs and browser/. Default `dist`. */
  readonly dist?: string;
  /** Gateways listen on basePort and basePort + 1; simulators' ops on +10, +11; the persister's on +20. */
  readonly basePort: number;
  readonly gateways?: number;
  readonly simulators?: number;
  /** Subject prefix, Redis key prefix, and the stem of stream, consumer and schema names. Default `p3`. */
  readonly prefix?: string;
  /** Extra environment for every process (e.g. P3_LOG_LEVEL). */
  readonly env?: Readonly<Record<string, string>>;
  /** Arguments for `node` before the service's file (e.g. `--cpu-prof --cpu-prof-dir=DIR` to profile). */
  readonly nodeArgs?: readonly string[];
  /** Where each line of a process's output goes (default: kept only). */
  readonly onOutput?: (name: string, line: string) => void;
}

/**
 * The environment of one service of a cluster: the same prefix for all, and for the simulators and the persister
 * the same streams and database schema. Each gets only the variables it reads (anything else would be warned about
 * as a typo).
 */
export function clusterEnv(options: ClusterOptions, service: ServiceName): Record<string, string> {
  const prefix = options.prefix ?? 'p3';
  const stem = prefix === 'p3' ? 'P3' : `P3_${prefix.toUpperCase().replace(/-/g, '_')}`;
  const schema = prefix === 'p3' ? {} : { P3_DATABASE_SCHEMA: prefix.toLowerCase().replace(/-/g, '_') };
  const stores =
    service === 'gateway'
      ? {}
      : service === 'simulator'
        ? { P3_SNAPSHOT_STREAM: `${stem}_SNAPSHOTS`, P3_LOG_STREAM: `${stem}_ROOM_LOG`, ...schema }
        : {
            P3_SNAPSHOT_STREAM: `${stem}_SNAPSHOTS`,
            P3_PERSISTER_CONSUMER: `${prefix}-persister`,
            ...schema,
          };
  return { P3_SUBJECT_PREFIX: prefix, ...stores, ...options.env };
}

/**
 * Where and how one process runs, beyond the cluster's options: in a network namespace (a host of its own) it is
 * started through `command` (e.g. `ip netns exec <ns> ...`) and reached at `address`; `env` goes on top of
 * everything else (its NATS, Redis and Postgres URLs through forwarders, its member id).
 */
export interface ProcessPlacement {
  readonly command?: (argv: readonly string[]) => string[];
  readonly address?: string;
  readonly env?: Readonly<Record<string, string>>;
}

/** Starts one process of the cluster and resolves once its /readyz answers 200 (rejects if it exits first). */
export async function startClusterProcess(
  options: ClusterOptions,
  service: ServiceName,
  index: number,
  timeoutMs = 20_000,
  placement?: ProcessPlacement,
): Promise<ClusterProcess> {
  const dist = options.dist ?? 'dist';
  const port =
    service === 'gateway'
      ? options.basePort + index - 1
      : service === 'simulator'
        ? options.basePort + 9 + index
        : options.basePort + 20;
  const name = `${service}-${index}`;
  const address = placement?.address ?? '127.0.0.1';
  // Another process answering there would pass for this one in the readiness check below.
  if (placement?.address === undefined && !(await portIsFree(port)))
    throw new Error(`${name}: port ${port} is in use`);
  const env: Record<string, string> = {};
  // The caller's P3_* settings stay theirs to give (options.env); a shell's P3_CLUSTER_* are the script's own.
  for (const [key, value] of Object.entries(process.env))
    if (value !== undefined && !key.startsWith('P3_')) env[key] = value;
  Object.assign(env, clusterEnv(options, service));
  if (service === 'gateway') {
    env.P3_PORT = String(port);
    env.P3_GATEWAY_ID = `${options.prefix ?? 'p3'}-${name}-${process.pid}`;
    env.P3_STATIC_DIR = join(dist, 'browser');
  } else if (service === 'simulator') {
    env.P3_SIMULATOR_PORT = String(port);
  } else {
    env.P3_PERSISTER_PORT = String(port);
  }
  Object.assign(env, placement?.env);
  const argv = [process.execPath, ...(options.nodeArgs ?? []), join(dist, `${service}.mjs`)];
  const [command = process.execPath, ...args] = placement?.command?.(argv) ?? argv;
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const collect = (chunk: Buffer) => {
    const text = chunk.toString();
    output = (output + text).slice(-200_000);
    if (options.onOutput) for (const line of text.split('\n')) if (line.trim()) options.onOutput(name, line);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')),
  );
  const spawnedAt = performance.now();
  const deadline = Date.now() + timeoutMs;
  let gone: number | string | undefined;
  void exited.then((code) => (gone = code));
  while (Date.now() < deadline) {
    if (gone !== undefined)
      throw new Error(`${name} exited (${gone}) before it was ready:\n${output.slice(-4000)}`);
    try {
      if ((await fetch(`http://${address}:${port}/readyz`)).status === 200) {
        const startupMs = performance.now() - spawnedAt;
        return {
          service,
          index,
          name,
          port,
          address,
          child,
          output: () => output,
          exited,
          startupMs,
          readyRssBytes: rss(child.pid),
        };
      }
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`${name} not ready within ${timeoutMs} ms:\n${output.slice(-4000)}`);
}

/**
 * Starts the persister, the simulators, then the gateways (each once the previous are ready), so the first client
 * finds live simulators. Rejects (after killing what started) when one does not become ready.
 */
export async function startCluster(options: ClusterOptions): Promise<ClusterProcess[]> {
  // A process answering on a port we are about to use would pass for ours in the readiness check.
  const ports = [0, 1, 10, 11, 20].map((offset) => options.basePort + offset);
  for (const port of ports)
    if (!(await portIsFree(port)))
      throw new Error(`port ${port} is in use: stop what listens there, or pick another base port`);
  const plan: Array<[ServiceName, number]> = [['persister', 1]];
  for (let i = 1; i <= (options.simulators ?? 2); i++) plan.push(['simulator', i]);
  for (let i = 1; i <= (options.gateways ?? 2); i++) plan.push(['gateway', i]);
  const started: ClusterProcess[] = [];
  try {
    // The persister first (it creates the schema); then the rest in parallel (two cores: five at once is fine).
    started.push(await startClusterProcess(options, 'persister', 1));
    const rest = await Promise.allSettled(
      plan.slice(1).map(([service, index]) => startClusterProcess(options, service, index)),
    );
    for (const result of rest) if (result.status === 'fulfilled') started.push(result.value);
    const failed = rest.find((result) => result.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    return started;
  } catch (error) {
    await stopCluster(started, 'SIGKILL');
    throw error;
  }
}

/** Stops gateways first (clients move on), then simulators (rooms hand off), then the persister. */
export async function stopCluster(
  processes: readonly ClusterProcess[],
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<void> {
  for (const service of ['gateway', 'simulator', 'persister'] as const) {
    const group = processes.filter(
      (p) => p.service === service && p.child.exitCode === null && p.child.signalCode === null,
    );
    for (const p of group) p.child.kill(signal);
    await Promise.all(
      group.map((p) =>
        Promise.race([
          p.exited,
          new Promise((resolve) =>
            setTimeout(() => {
              p.child.kill('SIGKILL');
              resolve(undefined);
            }, 15_000),
          ),
        ]),
      ),
    );
  }
}

/** True when nothing listens on the port (any address). */
export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host: '0.0.0.0', exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** A base port whose cluster ports (+0, +1, +10, +11, +20) are all free, picked at random in [20000, 45000). */
export async function freeBasePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 2500) * 10;
    const free = await Promise.all([0, 1, 10, 11, 20].map((offset) => portIsFree(base + offset)));
    if (free.every(Boolean)) return base;
  }
  throw new Error('no free base port found');
}

/** VmRSS of a process in bytes, from /proc (0 when unreadable). */
function rss(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
    return kib === undefined ? 0 : Number(kib) * 1024;
  } catch {
    return 0;
  }
}
