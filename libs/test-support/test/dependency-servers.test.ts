import { existsSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { connect as natsConnect, type NatsConnection } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import pg from 'pg';
import {
  DependencyServerError,
  startNatsServer,
  startPostgresServer,
  startRedisServer,
  type DependencyServer,
} from '../src/dependency-servers.js';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function track(server: DependencyServer): DependencyServer {
  cleanups.push(() => server.close());
  return server;
}

/** Whether anything accepts a TCP connection on the port (a killed server must not). */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function nats(url: string): Promise<NatsConnection> {
  const nc = await natsConnect({ servers: url, reconnect: false, timeout: 2000 });
  cleanups.push(() => nc.close().catch(() => undefined));
  return nc;
}

/** The JetStream API by its subjects, so this package needs no @nats-io/jetstream dependency. */
async function jsApi(
  nc: NatsConnection,
  subject: string,
  body: unknown = {},
): Promise<Record<string, unknown>> {
  const reply = await nc.request(subject, JSON.stringify(body), { timeout: 5000 });
  return reply.json<Record<string, unknown>>();
}

function redis(port: number): Redis {
  // No retries: a killed server must show up as a failure, not as a command queued until it returns.
  const client = new Redis({
    port,
    host: '127.0.0.1',
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', () => undefined);
  cleanups.push(() => client.disconnect());
  return client;
}

async function postgres(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  client.on('error', () => undefined);
  await client.connect();
  cleanups.push(() => client.end().catch(() => undefined));
  return client;
}

describe('dependency servers', () => {
  it('[DEPSRV-1] NATS: answers with JetStream, a kill drops clients and refuses new ones, a start on the same port keeps the stream', async () => {
    const server = track(await startNatsServer());
    expect(server.url).toBe(`nats://127.0.0.1:${server.port}`);
    const nc = await nats(server.url);
    const created = await jsApi(nc, '$JS.API.STREAM.CREATE.ORDERS', {
      name: 'ORDERS',
      subjects: ['orders.>'],
    });
    expect(created['error']).toBeUndefined();
    const ack = await nc.request('orders.1', 'first', { timeout: 5000 });
    expect(ack.json<{ seq: number }>().seq).toBe(1);

    const pid = server.pid;
    await server.kill();
    expect(server.pid).toBeUndefined();
    // With reconnect off, losing the server closes the connection (nats.js resolves closed() without an error).
    await nc.closed();
    expect(nc.isClosed()).toBe(true);
    expect(await accepts(server.port)).toBe(false);

    await server.start();
    expect(server.pid).not.toBe(pid);
    const again = await nats(`nats://127.0.0.1:${server.port}`);
    const info = await jsApi(again, '$JS.API.STREAM.INFO.ORDERS');
    expect((info['state'] as { messages: number }).messages).toBe(1);
  });

  it('[DEPSRV-2] Redis: SET/GET, a kill ends the connection, a start on the same port comes back empty', async () => {
    const server = track(await startRedisServer());
    const client = redis(server.port);
    await client.connect();
    await client.set('k', 'v');
    expect(await client.get('k')).toBe('v');

    const ended = new Promise<void>((resolve) => client.once('end', () => resolve()));
    await server.kill();
    await ended;
    expect(await accepts(server.port)).toBe(false);

    await server.start();
    const fresh = redis(server.port);
    await fresh.connect();
    expect(await fresh.get('k')).toBeNull();
    expect(await fresh.dbsize()).toBe(0);
  });

  it('[DEPSRV-3] Postgres: a private cluster keeps a table across kill (immediate) and start, and a clean stop', async () => {
    const server = track(await startPostgresServer());
    expect(server.url).toBe(`postgres://postgres@127.0.0.1:${server.port}/postgres`);
    const client = await postgres(server.url);
    await client.query('CREATE TABLE kept (id int PRIMARY KEY, note text)');
    await client.query(`INSERT INTO kept VALUES (1, 'before the crash')`);

    const lost = new Promise<void>((resolve) => client.once('error', () => resolve()));
    await server.kill();
    await lost;
    await expect(postgres(server.url)).rejects.toThrow();

    await server.start();
    const after = await postgres(server.url);
    expect((await after.query('SELECT note FROM kept')).rows).toEqual([{ note: 'before the crash' }]);
    await after.end();

    await server.stop();
    expect(server.isRunning).toBe(false);
    await server.start();
    const third = await postgres(server.url);
    expect((await third.query('SELECT count(*)::int AS n FROM kept')).rows).toEqual([{ n: 1 }]);
  });

  it('[DEPSRV-4] close() stops the server, removes its temp dir, is idempotent; start() after it fails', async () => {
    const server = await startRedisServer();
    expect(existsSync(server.dataDir)).toBe(true);
    await server.close();
    await server.close();
    expect(existsSync(server.dataDir)).toBe(false);
    expect(await accepts(server.port)).toBe(false);
    await expect(server.start()).rejects.toBeInstanceOf(DependencyServerError);
  });
});
