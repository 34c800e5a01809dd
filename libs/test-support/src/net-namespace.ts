import { spawnSync } from 'node:child_process';
import { readdirSync, readlinkSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { FaultProxy, type Faults } from './fault-proxy.js';
import { onProcessExit } from './process-exit.js';
import { findExecutable, runCommand } from './system-commands.js';

/** Why a NetHost could not be created or driven. */
export const NetHostErrorCode = {
  /** Not root, or `ip`/`iptables` missing: see `netHostsAvailable()`. */
  Unavailable: 'UNAVAILABLE',
  /** A bad `name` or `subnetIndex`. */
  InvalidOption: 'INVALID_OPTION',
  /** All of 10.213.1-254.0/30 are taken (or the requested `subnetIndex` is). */
  NoFreeSubnet: 'NO_FREE_SUBNET',
  /** An `ip`/`iptables` command failed; the message carries its stderr. */
  CommandFailed: 'COMMAND_FAILED',
  Closed: 'CLOSED',
} as const;
export type NetHostErrorCode = (typeof NetHostErrorCode)[keyof typeof NetHostErrorCode];

export class NetHostError extends Error {
  override readonly name = 'NetHostError';
  constructor(
    readonly code: NetHostErrorCode,
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
  }
}

/** A forwarder from the namespace to a service of the machine: connect from inside to `host:port`. */
export interface NetForward {
  readonly host: string;
  readonly port: number;
  /** `host:port`, for a NATS server list or a Redis/Postgres URL. */
  readonly address: string;
  /** Latency, loss, and a cut that resets connections (unlike `partition()`, which stalls them). */
  readonly proxy: FaultProxy;
}

const NAME = /^[A-Za-z0-9_]{1,24}$/;
const NAMESPACE = /^p3-.+-(\d+)$/;
const HOST_VETH = /^p3h(\d+)$/;
/** The metric of the fallback route (see `setUp`): any value above the kernel's 0 for the link's own route. */
const FALLBACK_METRIC = '4213';

/**
 * A Linux network namespace joined to the machine by a veth pair, so a node (gateway, simulator) runs as its own
 * host and a partition is a real one: `partition()` drops its packets with iptables inside the namespace, so
 * established TCP connections stall silently (no RST, no FIN) and new ones time out, as behind a broken switch.
 * The machine's NATS/Redis/Postgres listen on 127.0.0.1 only, which a namespace cannot reach: `forward(port)`
 * puts a FaultProxy on the host side of the veth.
 *
 * Needs root, `ip` (iproute2) and `iptables`; check `netHostsAvailable()` first for a clear failure.
 *
 * @example
 * const host = await NetHost.create({ name: 'gw1' });
 * const nats = await host.forward(4222);
 * const [program, ...args] = host.command([process.execPath, 'gateway.js']);
 * const child = spawn(program, args, { env: { ...process.env, NATS_URL: `nats://${nats.address}` } });
 * await host.partition(); // ... await host.heal();
 * await host.close();
 */
export class NetHost {
  private readonly forwards = new Set<FaultProxy>();
  private isPartitioned = false;
  private closed = false;
  private readonly forgetExitCleanup: () => void;

  private constructor(
    /** The namespace: `p3-<name>-<index>-<pid of the creator>`. */
    readonly name: string,
    /** n in 10.213.n.0/30, unique on the machine while this host lives. */
    readonly index: number,
    private readonly ip: string,
    private readonly iptables: string,
  ) {
    this.forgetExitCleanup = onProcessExit(() => removeNow(this.ip, this.name, this.index));
  }

  /** The machine's end of the veth, as the namespace sees it: where forwards listen. */
  get hostAddress(): string {
    return `10.213.${this.index}.1`;
  }

  /** The namespace's own address, reachable from the machine (a server inside listening on 0.0.0.0). */
  get address(): string {
    return `10.213.${this.index}.2`;
  }

  get hostInterface(): string {
    return `p3h${this.index}`;
  }

  get namespaceInterface(): string {
    return `p3n${this.index}`;
  }

  get partitioned(): boolean {
    return this.isPartitioned;
  }

  /**
   * Creates the namespace and its link (under 100 ms). Without `subnetIndex`, takes the first free n: the veth
   * name `p3h<n>` is the claim, since creating an existing interface fails, so concurrent test files never share
   * a subnet. Namespaces left by a crashed earlier run are removed first.
   */
  static async create(options: { name: string; subnetIndex?: number }): Promise<NetHost> {
    const tools = await requireTools();
    if (!NAME.test(options.name)) {
      throw new NetHostError(
        'INVALID_OPTION',
        `NetHost name ${JSON.stringify(options.name)}: use 1-24 of [A-Za-z0-9_]`,
      );
    }
    await cleanupStaleNetHosts();
    const candidates =
      options.subnetIndex === undefined ? await freeIndexes(tools.ip) : [checkedIndex(options.subnetIndex)];
    for (const index of candidates) {
      const veth = `p3h${index}`;
      try {
        await run(tools.ip, ['link', 'add', veth, 'type', 'veth', 'peer', 'name', `p3n${index}`]);
      } catch (error) {
        if (/exists/i.test(String(error))) continue;
        throw error;
      }
      const host = new NetHost(`p3-${options.name}-${index}-${process.pid}`, index, tools.ip, tools.iptables);
      try {
        await host.setUp();
      } catch (error) {
        await host.close().catch(() => undefined);
        throw error;
      }
      return host;
    }
    throw new NetHostError(
      'NO_FREE_SUBNET',
      options.subnetIndex === undefined
        ? 'no free 10.213.n.0/30 (n in 1..254) for a NetHost'
        : `10.213.${options.subnetIndex}.0/30 is taken (p3h${options.subnetIndex} exists)`,
    );
  }

  /**
   * A FaultProxy on `hostAddress:<free port>` to `targetHost:targetPort` (default 127.0.0.1), so a process in the
   * namespace reaches the machine's service at the returned address. Closed with the host.
   */
  async forward(
    targetPort: number,
    options: { faults?: Faults; targetHost?: string } = {},
  ): Promise<NetForward> {
    this.assertOpen();
    const proxy = await FaultProxy.start({
      target: { host: options.targetHost ?? '127.0.0.1', port: targetPort },
      listen: { host: this.hostAddress, port: 0 },
    });
    if (options.faults !== undefined) proxy.setFaults(options.faults);
    this.forwards.add(proxy);
    return { host: this.hostAddress, port: proxy.port, address: `${this.hostAddress}:${proxy.port}`, proxy };
  }

  /**
   * The argv that runs `argv` inside the namespace, for child_process.spawn. `ip netns exec` execs the program,
   * so the child's pid is the program's own: a `kill -9` of it kills the program.
   */
  command(argv: readonly string[]): [string, ...string[]] {
    return [this.ip, 'netns', 'exec', this.name, ...argv];
  }

  /** Drops every packet between the namespace and the machine; established connections stall, no RST. */
  async partition(): Promise<void> {
    this.assertOpen();
    if (this.isPartitioned) return;
    await this.firewall('-I');
    this.isPartitioned = true;
  }

  /** Removes the partition. Stalled connections resume on their next retransmission (up to seconds later). */
  async heal(): Promise<void> {
    this.assertOpen();
    if (!this.isPartitioned) return;
    await this.firewall('-D');
    this.isPartitioned = false;
  }

  /**
   * The other partition: the machine's end of the cable pulled (`ip link set p3h<n> down`). Inside, the link
   * loses carrier and packets to the machine are dropped (connections stall); from the machine, connecting to
   * `address` fails at once with EHOSTUNREACH.
   */
  async linkDown(): Promise<void> {
    this.assertOpen();
    await run(this.ip, ['link', 'set', this.hostInterface, 'down']);
  }

  async linkUp(): Promise<void> {
    this.assertOpen();
    await run(this.ip, ['link', 'set', this.hostInterface, 'up']);
    await this.linkReady();
  }

  /**
   * Stops the forwards, kills what still runs inside (a host that goes away takes its processes with it), and
   * deletes the namespace and the veth. Idempotent.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.forwards].map((proxy) => proxy.close()));
    this.forwards.clear();
    await remove(this.ip, this.name, this.index);
    this.forgetExitCleanup();
  }

  private async setUp(): Promise<void> {
    const ip = this.ip;
    const inside = ['-n', this.name];
    // The alias names the owner, so cleanupStaleNetHosts can tell a crashed run's veth from a live one.
    await run(ip, ['link', 'set', this.hostInterface, 'alias', this.name]);
    await run(ip, ['netns', 'add', this.name]);
    await run(ip, ['link', 'set', this.namespaceInterface, 'netns', this.name]);
    await run(ip, ['addr', 'add', `${this.hostAddress}/30`, 'dev', this.hostInterface]);
    await run(ip, ['link', 'set', this.hostInterface, 'up']);
    await run(ip, [...inside, 'addr', 'add', `${this.address}/30`, 'dev', this.namespaceInterface]);
    await run(ip, [...inside, 'link', 'set', this.namespaceInterface, 'up']);
    await run(ip, [...inside, 'link', 'set', 'lo', 'up']);
    // With p3h<n> down its route goes, and the machine would send 10.213.n.* out of its default route instead;
    // in this sandbox that egress accepts any TCP connection, so a "downed" host would look reachable.
    await run(ip, ['route', 'add', 'unreachable', `10.213.${this.index}.0/30`, 'metric', FALLBACK_METRIC]);
    await this.linkReady();
  }

  /** Until the veth has carrier: a SYN sent before that is lost and retried only a second later. */
  private async linkReady(): Promise<void> {
    const deadline = Date.now() + 3000;
    const state = `/sys/class/net/${this.hostInterface}/operstate`;
    while ((await readFile(state, 'utf8').catch(() => '')).trim() !== 'up') {
      if (Date.now() > deadline)
        throw new NetHostError('COMMAND_FAILED', `${this.hostInterface} did not come up`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  private async firewall(action: '-I' | '-D'): Promise<void> {
    // -w: iptables takes a machine-wide lock; another test file's partition must not fail ours.
    const rules = [
      ['INPUT', '-s', this.hostAddress, '-j', 'DROP'],
      ['OUTPUT', '-d', this.hostAddress, '-j', 'DROP'],
    ];
    for (const rule of rules) {
      await run(this.ip, ['netns', 'exec', this.name, this.iptables, '-w', '5', action, ...rule]);
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new NetHostError('CLOSED', `NetHost ${this.name} is closed`);
  }
}

/** Whether NetHosts can be made here: root, `ip` and `iptables`. A test fails with `reason` rather than skip. */
export async function netHostsAvailable(): Promise<{ ok: true } | { ok: false; reason: string }> {
  try {
    await requireTools();
    return { ok: true };
  } catch (error) {
    return { ok: false, reason: (error as Error).message };
  }
}

/**
 * Deletes `p3-*` namespaces and `p3h*` veths whose creating process is gone (a crashed or SIGKILLed run), and
 * kills processes left inside them. Returns what it removed.
 */
export async function cleanupStaleNetHosts(): Promise<{ namespaces: string[]; interfaces: string[] }> {
  const { ip } = await requireTools();
  const namespaces = (await namespaceNames(ip)).filter((name) => !ownerAlive(name));
  for (const name of namespaces) await remove(ip, name, undefined);
  // Routes before veths: a creator adds its route after its veth, so a route listed first whose veth is missing
  // from the later list is an orphan, never one being set up right now.
  const routes = await fallbackRoutes(ip);
  const veths = await hostVeths(ip);
  const interfaces: string[] = [];
  for (const veth of veths) {
    const alias = (await readFile(`/sys/class/net/${veth}/ifalias`, 'utf8').catch(() => '')).trim();
    // No alias yet: another process is creating it right now.
    if (alias === '' || ownerAlive(alias)) continue;
    await remove(ip, undefined, indexOf(veth));
    interfaces.push(veth);
  }
  for (const index of routes) {
    if (!veths.includes(`p3h${index}`)) await deleteFallbackRoute(ip, index);
  }
  return { namespaces, interfaces };
}

/** Whether the pid a name ends with (`p3-<name>-<n>-<pid>`) is a live process. */
function ownerAlive(name: string): boolean {
  const pid = Number(NAMESPACE.exec(name)?.[1]);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: alive, someone else's.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Kills what runs in the namespace, deletes it, then the fallback route and the veth of subnet `index`. */
async function remove(ip: string, namespace: string | undefined, index: number | undefined): Promise<void> {
  if (namespace !== undefined) {
    const id = namespaceId(namespace);
    killProcessesIn(id);
    await run(ip, ['netns', 'delete', namespace]).catch(ignoreMissing);
    // Again: a process whose `ip netns exec` entered between the first sweep and the delete.
    killProcessesIn(id);
  }
  if (index === undefined) return;
  // The route first: a route without its veth would look like an orphan to a concurrent cleanupStaleNetHosts.
  await deleteFallbackRoute(ip, index);
  // Deleting the namespace destroys its end of the pair, and with it ours, unless a process kept it alive.
  await run(ip, ['link', 'delete', `p3h${index}`]).catch(ignoreMissing);
}

/** The same as `remove`, synchronously, for `process.on('exit')`. */
function removeNow(ip: string, namespace: string, index: number): void {
  const id = namespaceId(namespace);
  killProcessesIn(id);
  spawnSync(ip, ['netns', 'delete', namespace]);
  killProcessesIn(id);
  spawnSync(ip, ['route', 'delete', 'unreachable', `10.213.${index}.0/30`, 'metric', FALLBACK_METRIC]);
  spawnSync(ip, ['link', 'delete', `p3h${index}`]);
}

async function deleteFallbackRoute(ip: string, index: number): Promise<void> {
  await run(ip, ['route', 'delete', 'unreachable', `10.213.${index}.0/30`, 'metric', FALLBACK_METRIC]).catch(
    ignoreMissing,
  );
}

/** n of every `unreachable 10.213.n.0/30 metric 4213` route. */
async function fallbackRoutes(ip: string): Promise<number[]> {
  const out = await run(ip, ['-4', 'route', 'show', 'type', 'unreachable']);
  const pattern = new RegExp(`^unreachable 10\\.213\\.(\\d+)\\.0/30 .*metric ${FALLBACK_METRIC}`, 'gm');
  return [...out.matchAll(pattern)].map((match) => Number(match[1]));
}

function indexOf(veth: string): number {
  return Number(HOST_VETH.exec(veth)?.[1]);
}

function ignoreMissing(error: unknown): void {
  if (/No such file|No such process|Cannot find device|does not exist/i.test(String(error))) return;
  throw error;
}

/** `net:[<inode>]`, as /proc/<pid>/ns/net reads for the processes inside; undefined if there is no such name. */
function namespaceId(namespace: string): string | undefined {
  try {
    return `net:[${statSync(`/run/netns/${namespace}`).ino}]`;
  } catch {
    return undefined;
  }
}

/**
 * SIGKILLs every process in the namespace. By inode rather than `ip netns pids`, so it still finds them once
 * the name is deleted; synchronous (a /proc scan of a few ms) so the exit handler can use it too.
 */
function killProcessesIn(id: string | undefined): void {
  if (id === undefined) return;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/ns/net`) === id) killQuietly(Number(entry));
    } catch {
      // Gone meanwhile, or a kernel thread.
    }
  }
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

async function namespaceNames(ip: string): Promise<string[]> {
  // Lines look like "p3-gw-3-1234 (id: 0)".
  const out = await run(ip, ['netns', 'list']);
  return out
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => NAMESPACE.test(name));
}

async function hostVeths(ip: string): Promise<string[]> {
  // Lines look like "8: p3h5@if7: <BROADCAST,...>".
  const out = await run(ip, ['-o', 'link', 'show']);
  return out
    .split('\n')
    .map((line) => (line.split(': ')[1] ?? '').split('@')[0] ?? '')
    .filter((name) => HOST_VETH.test(name));
}

/** n in 1..254 with neither a p3h<n> veth nor a 10.213.n.* address on the machine, lowest first. */
async function freeIndexes(ip: string): Promise<number[]> {
  const used = new Set([...(await hostVeths(ip)).map(indexOf), ...(await fallbackRoutes(ip))]);
  const addresses = await run(ip, ['-o', '-4', 'addr', 'show']);
  for (const match of addresses.matchAll(/inet 10\.213\.(\d+)\./g)) used.add(Number(match[1]));
  const free: number[] = [];
  for (let n = 1; n <= 254; n++) if (!used.has(n)) free.push(n);
  return free;
}

function checkedIndex(index: number): number {
  if (!Number.isInteger(index) || index < 1 || index > 254) {
    throw new NetHostError('INVALID_OPTION', `subnetIndex ${index}: use an integer in 1..254`);
  }
  return index;
}

async function requireTools(): Promise<{ ip: string; iptables: string }> {
  if (process.getuid?.() !== 0) {
    throw new NetHostError('UNAVAILABLE', 'NetHost needs root (network namespaces, veth pairs and iptables)');
  }
  const ip = await findTool('ip', 'iproute2');
  const iptables = await findTool('iptables', 'iptables');
  return { ip, iptables };
}

async function findTool(name: string, debianPackage: string): Promise<string> {
  const found = await findExecutable(name);
  if (found !== undefined) return found;
  throw new NetHostError('UNAVAILABLE', `NetHost needs ${name}: install the Debian package ${debianPackage}`);
}

function run(program: string, args: readonly string[]): Promise<string> {
  return runCommand(program, args, { timeoutMs: 15_000 }).catch((error: unknown) => {
    throw new NetHostError('COMMAND_FAILED', (error as Error).message, { cause: error });
  });
}
