import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import pg from 'pg';
import {
  PostgresSnapshotStore,
  encodeSnapshotMessage,
  ensureSnapshotStream,
  snapshotSubject,
  type StoredSnapshot,
} from '@p3/runtime';
import {
  defaultPersisterConfig,
  persisterConfigFromEnv,
  startPersister,
  type PersisterConfig,
  type PersisterHandle,
} from '@p3/persister';
import { postgresConfig, requireNats, requirePostgres, uniqueName, waitFor } from '@p3/test-support';

/**
 * Isolation: every case gets its own stream, subject prefix, durable consumer and Postgres schema
 * (`databaseSchema`, which the persister creates and puts on its pool's search_path), so it never touches another
 * test's tables or messages.
 */
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
let admin: pg.Pool;
const streams: string[] = [];
const schemas: string[] = [];
const handles: PersisterHandle[] = [];
const children: ChildProcess[] = [];

beforeAll(async () => {
  nc = await requireNats();
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
  admin = await requirePostgres();
});

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  for (const handle of handles) await handle.close();
  for (const stream of streams) await jsm.streams.delete(stream).catch(() => undefined);
  for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
  await nc.close();
});

interface Run {
  readonly config: PersisterConfig;
  publish(room: string, snapshot: Pick<StoredSnapshot, 'version' | 'epoch'>): Promise<void>;
  rows(): Promise<Map<string, { version: number; epoch: number }>>;
}

async function newRun(overrides: Partial<PersisterConfig> = {}): Promise<Run> {
  const id = uniqueName('persist').toLowerCase();
  const config: PersisterConfig = {
    ...defaultPersisterConfig,
    databaseUrl: `postgres://postgres@127.0.0.1:5432/${postgresConfig.database}`,
    databaseSchema: id,
    stream: id.toUpperCase(),
    subjectPrefix: id,
    consumer: id,
    host: '127.0.0.1',
    port: 0,
    retryMinMs: 50,
    retryMaxMs: 300,
    healthCheckMs: 100,
    logLevel: 'silent',
    ...overrides,
  };
  streams.push(config.stream);
  schemas.push(id);
  await ensureSnapshotStream(jsm, { stream: config.stream, prefix: config.subjectPrefix });
  return {
    config,
    async publish(room, position) {
      const key = { tenant: 't', room };
      const snapshot: StoredSnapshot = { kind: 'world', ...position, data: { room, ...position } };
      await js.publish(snapshotSubject(config.subjectPrefix, key), encodeSnapshotMessage(key, snapshot));
    },
    async rows() {
      const result = await admin
        .query<{ room: string; version: string; epoch: string }>(
          `SELECT room, version, epoch FROM ${id}.room_snapshots`,
        )
        .catch(() => ({ rows: [] }));
      return new Map(
        result.rows.map((r) => [r.room, { version: Number(r.version), epoch: Number(r.epoch) }]),
      );
    },
  };
}

async function start(config: PersisterConfig): Promise<PersisterHandle> {
  const handle = await startPersister(config);
  handles.push(handle);
  return handle;
}

async function http(port: number, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: await res.text() };
}

/** A TCP proxy to Postgres that the test can cut (every socket destroyed) and restore on the same port. */
class PostgresProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  async start(): Promise<void> {
    const server = createServer((client) => {
      const upstream = tcpConnect(postgresConfig.port, postgresConfig.host);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('error', () => undefined);
        socket.on('close', () => {
          this.sockets.delete(socket);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as { port: number }).port;
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

function spawnPersister(env: Record<string, string>): { child: ChildProcess; port: Promise<number> } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'services/persister/src/main.ts'], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  const port = new Promise<number>((resolve, reject) => {
    // Only awaited by callers that expect a start; a config-error run exits without one.
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /persister listening on (\d+)/.exec(out);
      if (match) resolve(Number(match[1]));
    });
    child.on('exit', (code) => reject(new Error(`persister exited with ${code}: ${out}`)));
  });
  port.catch(() => undefined);
  return { child, port };
}

function childEnv(config: PersisterConfig): Record<string, string> {
  return {
    P3_DATABASE_URL: config.databaseUrl,
    P3_DATABASE_SCHEMA: config.databaseSchema!,
    P3_SNAPSHOT_STREAM: config.stream,
    P3_SUBJECT_PREFIX: config.subjectPrefix,
    P3_PERSISTER_CONSUMER: config.consumer,
    P3_PERSISTER_PORT: '0',
    P3_PERSISTER_RETRY_MIN_MS: '50',
    P3_PERSISTER_RETRY_MAX_MS: '300',
    // What the killed persister had pulled comes back after ack_wait: short here, 30 s by default.
    P3_PERSISTER_ACK_WAIT_MS: '1500',
    P3_LOG_LEVEL: 'warn',
  };
}

describe('persister', () => {
  it('[PERSIST-1] every snapshot in the stream lands in Postgres (20 rooms)', async () => {
    const run = await newRun();
    for (let i = 0; i < 20; i++) await run.publish(`room-${i}`, { epoch: 1, version: i + 1 });
    const persister = await start(run.config);
    const rows = await waitFor(
      () => run.rows(),
      (r) => r.size === 20,
      '20 rows',
    );
    for (let i = 0; i < 20; i++) expect(rows.get(`room-${i}`)).toEqual({ epoch: 1, version: i + 1 });
    expect(persister.ready()).toBe(true);
    expect((await http(persister.port, '/readyz')).status).toBe(200);
  });

  it('[PERSIST-2] an older epoch or version never overwrites a newer row', async () => {
    const run = await newRun();
    const persister = await start(run.config);
    const pool = new pg.Pool({ ...postgresConfig, options: `-c search_path=${run.config.databaseSchema}` });
    const direct = new PostgresSnapshotStore({ pool, table: 'room_snapshots' });
    const newer = (epoch: number, version: number): StoredSnapshot => ({
      kind: 'world',
      epoch,
      version,
      data: { direct: true },
    });
    await direct.save({ tenant: 't', room: 'a' }, newer(2, 5));
    await direct.save({ tenant: 't', room: 'b' }, newer(3, 1));
    await pool.end();
    await run.publish('a', { epoch: 2, version: 4 }); // same epoch, older version
    await run.publish('b', { epoch: 2, version: 100 }); // older epoch, any version
    await run.publish('c', { epoch: 1, version: 1 });
    await run.publish('c', { epoch: 1, version: 2 });
    await waitFor(
      () => run.rows(),
      (r) => r.get('c')?.version === 2,
      'room c at version 2',
    );
    const stale = await waitFor(
      async () => (await persister.registry.getSingleMetric('p3_persister_snapshots_total')!.get()).values,
      // Room c's two versions may both be delivered and written in either order: v1 is then stale too.
      (values) => (values.find((v) => v.labels.outcome === 'stale')?.value ?? 0) >= 2,
      'stale outcomes for rooms a and b',
      8000,
    );
    expect(stale.find((v) => v.labels.outcome === 'invalid')?.value).toBe(0);
    const rows = await run.rows();
    expect(rows.get('a')).toEqual({ epoch: 2, version: 5 });
    expect(rows.get('b')).toEqual({ epoch: 3, version: 1 });
  });

  it('[PERSIST-3] a Postgres outage delays writes, loses none, and shows in /readyz', async () => {
    const proxy = new PostgresProxy();
    await proxy.start();
    const run = await newRun({
      databaseUrl: `postgres://postgres@127.0.0.1:${proxy.port}/${postgresConfig.database}`,
    });
    const persister = await start(run.config);
    for (let i = 0; i < 10; i++) await run.publish(`r${i}`, { epoch: 1, version: 1 });
    await waitFor(
      () => run.rows(),
      (r) => r.size === 10,
      'first 10 rows',
    );

    await proxy.stop();
    for (let i = 0; i < 30; i++) await run.publish(`r${i}`, { epoch: 1, version: 2 });
    const down = await waitFor(
      () => http(persister.port, '/readyz'),
      (r) => r.status === 503,
      '/readyz 503',
    );
    expect(JSON.parse(down.body)).toMatchObject({ ready: false });
    expect(down.body).toContain('postgres');
    // Let several redeliveries fail before Postgres returns.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect([...(await run.rows()).values()].every((r) => r.version === 1)).toBe(true);

    await proxy.start();
    const rows = await waitFor(
      () => run.rows(),
      (r) => r.size === 30 && [...r.values()].every((row) => row.version === 2),
      'all 30 rooms at version 2',
      8000,
    );
    expect(rows.size).toBe(30);
    await waitFor(
      () => http(persister.port, '/readyz'),
      (r) => r.status === 200,
      '/readyz 200',
    );
    const metrics = (await http(persister.port, '/metrics')).body;
    expect(Number(/p3_persister_retries_total (\d+)/.exec(metrics)?.[1])).toBeGreaterThan(0);
    await persister.close();
    await proxy.stop();
  });

  it('[PERSIST-4] a kill -9 of the persister loses no snapshot', async () => {
    const run = await newRun();
    const env = childEnv(run.config);
    const first = spawnPersister(env);
    await first.port;
    for (let i = 0; i < 100; i++) await run.publish(`k${i}`, { epoch: 1, version: 1 });
    await waitFor(
      () => run.rows(),
      (r) => r.size >= 10,
      'some rows before the kill',
      10_000,
    );
    first.child.kill('SIGKILL');
    const atKill = (await run.rows()).size;
    // While it is dead: the other 100 rooms, and a newer version of the first 50.
    for (let i = 100; i < 200; i++) await run.publish(`k${i}`, { epoch: 1, version: 1 });
    for (let i = 0; i < 50; i++) await run.publish(`k${i}`, { epoch: 1, version: 2 });
    const second = spawnPersister(env);
    await second.port;
    const rows = await waitFor(
      () => run.rows(),
      (r) => r.size === 200 && [...Array(50).keys()].every((i) => r.get(`k${i}`)?.version === 2),
      '200 rooms with their last version',
      10_000,
    ).catch(async (error: unknown) => {
      const r = await run.rows();
      const wrong = [...Array(200).keys()].filter((i) => r.get(`k${i}`)?.version !== (i < 50 ? 2 : 1));
      throw new Error(`${(error as Error).message.slice(0, 60)}: wrong rooms ${wrong.join(',')}`);
    });
    expect(atKill).toBeLessThan(200);
    for (let i = 0; i < 200; i++) expect(rows.get(`k${i}`)?.version).toBe(i < 50 ? 2 : 1);
    second.child.kill('SIGTERM');
    expect(await new Promise((resolve) => second.child.on('exit', resolve))).toBe(0);
  });

  it('[PERSIST-5] /metrics shows the counters; an undecodable message is terminated and counted', async () => {
    const run = await newRun();
    const persister = await start(run.config);
    await run.publish('m1', { epoch: 1, version: 1 });
    await js.publish(
      `${run.config.subjectPrefix}.snap.t.junk`,
      new TextEncoder().encode('{"not":"a snapshot"}'),
    );
    await waitFor(
      async () => (await http(persister.port, '/metrics')).body,
      (text) =>
        text.includes('p3_persister_snapshots_total{outcome="saved"} 1') &&
        text.includes('p3_persister_snapshots_total{outcome="invalid"} 1'),
      'saved and invalid counted',
    );
    const text = (await http(persister.port, '/metrics')).body;
    for (const name of [
      'p3_persister_retries_total 0',
      'p3_persister_write_seconds_count 1',
      'p3_persister_pending 0',
      'p3_persister_snapshots_total{outcome="stale"} 0',
    ])
      expect(text).toContain(name);
    expect((await http(persister.port, '/healthz')).status).toBe(200);
  });

  it('[PERSIST-6] bad configuration exits 2 and lists every problem', async () => {
    const { child } = spawnPersister({
      P3_PERSISTER_PORT: 'eighty',
      P3_SNAPSHOT_STREAM: 'bad.name',
      P3_PERSISTER_RETRY_MIN_MS: '5000',
      P3_PERSISTER_RETRY_MAX_MS: '100',
      P3_LOG_LEVEL: 'loud',
      P3_PERSISTER_CONSUMR: 'typo',
    });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise((resolve) => child.on('exit', resolve));
    expect(code).toBe(2);
    for (const name of [
      'P3_PERSISTER_PORT',
      'P3_SNAPSHOT_STREAM',
      'P3_PERSISTER_RETRY_MIN_MS',
      'P3_LOG_LEVEL',
      'did you mean P3_PERSISTER_CONSUMER',
    ])
      expect(stderr).toContain(name);
    expect(() => persisterConfigFromEnv({ P3_DATABASE_SCHEMA: 'Robert; DROP' })).toThrow(
      /P3_DATABASE_SCHEMA/,
    );
  });
});
