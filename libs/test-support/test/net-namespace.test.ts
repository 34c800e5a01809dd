import { spawn, spawnSync, type ChildProcessByStdio } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NetHost, cleanupStaleNetHosts, netHostsAvailable } from '../src/net-namespace.js';
import { until } from '../src/services.js';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

beforeAll(async () => {
  const available = await netHostsAvailable();
  // Fail, never skip: the fault tests depend on this.
  if (!available.ok) throw new Error(`these tests need network namespaces: ${available.reason}`);
});

async function netHost(name: string): Promise<NetHost> {
  const host = await NetHost.create({ name });
  cleanups.push(() => host.close());
  return host;
}

type Event = { readonly event: string; readonly text?: string; readonly code?: string };

/** A child that prints one JSON event per line; `next` is undefined when none came within the time. */
function run(argv: readonly string[]): {
  child: ChildProcessByStdio<Writable, Readable, null>;
  next: (timeoutMs?: number) => Promise<Event | undefined>;
} {
  const [program, ...args] = argv;
  if (program === undefined) throw new Error('empty argv');
  const child = spawn(program, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  cleanups.push(() => child.kill('SIGKILL'));
  const queue: Event[] = [];
  const waiters: Array<(event: Event) => void> = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    const event = JSON.parse(line) as Event;
    const waiter = waiters.shift();
    if (waiter) waiter(event);
    else queue.push(event);
  });
  const next = (timeoutMs = 5000) =>
    new Promise<Event | undefined>((resolve) => {
      const queued = queue.shift();
      if (queued) return resolve(queued);
      const waiter = (event: Event) => {
        clearTimeout(timer);
        resolve(event);
      };
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(waiter), 1);
        resolve(undefined);
      }, timeoutMs);
      waiters.push(waiter);
    });
  return { child, next };
}

/**
 * Holds one connection to a Redis at host:port and sends PING on it for "held"; opens a new one and PINGs for
 * "fresh" (giving up after 1.5 s, which is what a partition must cause).
 */
const redisPinger = `
const net = require('node:net');
const [host, port] = process.argv.slice(1);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
const held = net.connect({ host, port: +port, noDelay: true });
held.on('connect', () => out({ event: 'held-connected' }));
held.on('data', (d) => out({ event: 'held-reply', text: d.toString().trim() }));
held.on('error', (e) => out({ event: 'held-error', code: e.code }));
held.on('close', () => out({ event: 'held-closed' }));
require('node:readline').createInterface({ input: process.stdin }).on('line', (line) => {
  if (line === 'held') held.write('PING\\r\\n');
  if (line !== 'fresh') return;
  const s = net.connect({ host, port: +port });
  const t = setTimeout(() => { s.destroy(); out({ event: 'fresh-timeout' }); }, 1500);
  s.on('connect', () => s.write('PING\\r\\n'));
  s.on('data', (d) => { clearTimeout(t); out({ event: 'fresh-reply', text: d.toString().trim() }); s.destroy(); });
  s.on('error', (e) => { clearTimeout(t); out({ event: 'fresh-error', code: e.code }); });
});
`;

/** A server on 0.0.0.0 that greets every connection with its own address. */
const greeter = `
const server = require('node:net').createServer((s) => s.end('hello from ' + s.localAddress + '\\n'));
server.listen(0, '0.0.0.0', () => process.stdout.write(JSON.stringify({ event: 'listening', text: String(server.address().port) }) + '\\n'));
`;

/** The first line a TCP server at host:port sends, or the error code / 'timeout'. */
function greeting(host: string, port: number, timeoutMs = 1500): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (result: string) => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(timeoutMs, () => done('timeout'));
    socket.on('data', (data: Buffer) => done(data.toString().trim()));
    socket.on('error', (error: NodeJS.ErrnoException) => done(error.code ?? error.message));
  });
}

function exe(pid: number | undefined): string {
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return '';
  }
}

function fallbackRoute(index: number): string {
  return spawnSync('ip', ['-4', 'route', 'show', `10.213.${index}.0/30`, 'type', 'unreachable'], {
    encoding: 'utf8',
  }).stdout;
}

function namespacesOfThisPid(): string[] {
  const list = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
  return list
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => name.startsWith('p3-') && name.endsWith(`-${process.pid}`));
}

describe('NetHost', () => {
  it('[NETHOST-1] a process spawned with command() runs in the namespace under its own pid and reaches the machine Redis through forward()', async () => {
    const host = await netHost('reach');
    expect(host.name).toMatch(new RegExp(`^p3-reach-${host.index}-${process.pid}$`));
    expect(host.hostAddress).toBe(`10.213.${host.index}.1`);
    expect(host.address).toBe(`10.213.${host.index}.2`);
    const redis = await host.forward(6379);
    expect(redis.address).toBe(`${host.hostAddress}:${redis.port}`);

    const { child, next } = run(
      host.command([process.execPath, '-e', redisPinger, redis.host, String(redis.port)]),
    );
    expect(await next()).toEqual({ event: 'held-connected' });
    child.stdin.write('held\n');
    expect(await next()).toEqual({ event: 'held-reply', text: '+PONG' });
    // `ip netns exec` execs: the pid spawn returned is node's own, in another network namespace.
    expect(readlinkSync(`/proc/${child.pid}/exe`)).toBe(process.execPath);
    expect(readlinkSync(`/proc/${child.pid}/ns/net`)).not.toBe(readlinkSync('/proc/self/ns/net'));
  });

  it('[NETHOST-2] partition() stalls an established connection silently and times out new ones; heal() brings both back', async () => {
    const host = await netHost('split');
    const redis = await host.forward(6379);
    const { child, next } = run(
      host.command([process.execPath, '-e', redisPinger, redis.host, String(redis.port)]),
    );
    expect(await next()).toEqual({ event: 'held-connected' });

    await host.partition();
    expect(host.partitioned).toBe(true);
    child.stdin.write('held\n');
    // No reply, and no reset or close either: the connection just hangs.
    expect(await next(1500)).toBeUndefined();
    expect(redis.proxy.connectionCount).toBe(1);
    child.stdin.write('fresh\n');
    expect(await next(4000)).toEqual({ event: 'fresh-timeout' });

    await host.heal();
    child.stdin.write('fresh\n');
    // The PING written during the partition arrives with TCP's next retransmission, before or after the new one.
    const after = [await next(10_000), await next(10_000)];
    expect(after).toContainEqual({ event: 'fresh-reply', text: '+PONG' });
    expect(after).toContainEqual({ event: 'held-reply', text: '+PONG' });
  });

  it('[NETHOST-3] a server in the namespace on 0.0.0.0 is reachable at host.address, but not across a partition or a downed link', async () => {
    const host = await netHost('serve');
    const { next } = run(host.command([process.execPath, '-e', greeter]));
    const listening = await next();
    const port = Number(listening?.text);
    expect(await greeting(host.address, port)).toBe(`hello from ${host.address}`);

    await host.partition();
    expect(await greeting(host.address, port)).toBe('timeout');
    await host.heal();
    expect(await greeting(host.address, port)).toBe(`hello from ${host.address}`);

    await host.linkDown();
    // Not 'timeout': without its link the subnet has no route, and the fallback route answers at once.
    expect(await greeting(host.address, port)).toBe('EHOSTUNREACH');
    await host.linkUp();
    expect(await greeting(host.address, port)).toBe(`hello from ${host.address}`);
  });

  it('[NETHOST-4] close() is idempotent and leaves no namespace, veth or process of this pid behind', async () => {
    const host = await NetHost.create({ name: 'closing' });
    const { child } = run(host.command(['sleep', '60']));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    // Until `ip netns exec` has entered the namespace and exec'd sleep: close() kills what runs inside.
    await until(() => exe(child.pid).endsWith('/sleep'), 5000, 'sleep to run in the namespace');
    await host.close();
    await host.close();
    expect(namespacesOfThisPid()).toEqual([]);
    // Another process may already have claimed the freed subnet: what matters is that nothing of ours is left.
    const veth = `/sys/class/net/${host.hostInterface}`;
    if (existsSync(veth)) expect(readFileSync(`${veth}/ifalias`, 'utf8').trim()).not.toBe(host.name);
    else expect(fallbackRoute(host.index)).toBe('');
    expect(await exited).toBeNull(); // killed by a signal: no exit code
    await expect(host.forward(6379)).rejects.toThrow(/closed/);
  });

  it('[NETHOST-5] cleanupStaleNetHosts() removes the namespace and veth of a run whose process is gone', async () => {
    const dead = spawnSync('true').pid;
    const name = `p3-stale-253-${dead}`;
    const ip = (args: string[]) => spawnSync('ip', args, { encoding: 'utf8' });
    ip(['netns', 'add', name]);
    ip(['link', 'add', 'p3h253', 'type', 'veth', 'peer', 'name', 'p3n253']);
    ip(['link', 'set', 'p3h253', 'alias', name]);
    ip(['link', 'set', 'p3n253', 'netns', name]);
    ip(['route', 'add', 'unreachable', '10.213.253.0/30', 'metric', '4213']);
    cleanups.push(() => {
      ip(['netns', 'delete', name]);
      ip(['link', 'delete', 'p3h253']);
      ip(['route', 'delete', 'unreachable', '10.213.253.0/30', 'metric', '4213']);
    });

    const removed = await cleanupStaleNetHosts();
    expect(removed.namespaces).toContain(name);
    expect(ip(['netns', 'list']).stdout).not.toContain(name);
    expect(existsSync('/sys/class/net/p3h253')).toBe(false);
    expect(fallbackRoute(253)).toBe('');
  });
});
