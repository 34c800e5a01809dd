import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { EventSource } from 'undici';
import { P3Client } from '@p3/client';
import { JsonCodec } from '@p3/protocol';
import {
  NatsBus,
  encodeEnvelope,
  encodeIdToken,
  encodeRoomInputBatch,
  encodeRoomOutputBatch,
  roomInput,
  roomOutput,
} from '@p3/runtime';
import {
  WsTestClient,
  launchChromium,
  requireNats,
  requirePostgres,
  requireRedis,
  uniqueName,
  waitFor,
} from '@p3/test-support';
import {
  clusterEnv,
  freeBasePort,
  startCluster,
  startClusterProcess,
  stopCluster,
  type ClusterOptions,
  type ClusterProcess,
} from '../../../scripts/cluster-processes.js';

/**
 * The cluster as OS processes (issue 15, item 8): the build's gateway, simulator and persister (`node dist/*.mjs`)
 * against the local NATS, Redis and Postgres, with a prefix, streams and a schema of this run's own. Clients are the
 * real SDK. Prints the failover time of a kill -9.
 */
const root = fileURLToPath(new URL('../../../', import.meta.url));
const prefix = uniqueName('p3c').replace(/_/g, '-');
let out = '';
let options: ClusterOptions;
let cluster: ClusterProcess[] = [];
let nats: NatsConnection;
let redis: Redis;
let pool: pg.Pool;
const clients: P3Client[] = [];
/** Index of the next simulator started by a test (each index has its own port: never reuse one). */
let nextSimulator = 3;

beforeAll(async () => {
  nats = await requireNats();
  redis = await requireRedis();
  pool = await requirePostgres();
  await mkdir(join(root, 'node_modules/.cache'), { recursive: true });
  out = await mkdtemp(join(root, 'node_modules/.cache/p3-cluster-'));
  const build = spawn(process.execPath, ['--import', 'tsx', 'scripts/build.ts', '--out', out], { cwd: root });
  let log = '';
  build.stdout.on('data', (chunk: Buffer) => (log += chunk.toString()));
  build.stderr.on('data', (chunk: Buffer) => (log += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => build.once('close', resolve));
  expect(code, log).toBe(0);
  options = {
    dist: out,
    basePort: await freeBasePort(),
    prefix,
    env: {
      P3_LOG_LEVEL: 'warn',
      P3_DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/test',
      // Short enough for [CLUSTER-5] to see a dead gateway's client go; longer than any resume in these tests.
      P3_RESUME_GRACE_MS: '4000',
    },
  };
  cluster = await startCluster(options);
  for (const p of cluster)
    console.log(
      `[cluster] ${p.name} from the build: ready ${p.startupMs.toFixed(0)} ms after spawn, RSS ${(p.readyRssBytes / 2 ** 20).toFixed(1)} MiB`,
    );
}, 90_000);

afterAll(async () => {
  for (const client of clients) await client.disconnect().catch(() => undefined);
  await stopCluster(cluster, 'SIGKILL');
  const jsm = await jetstreamManager(nats);
  const env = clusterEnv(options, 'simulator');
  for (const stream of [env.P3_SNAPSHOT_STREAM, env.P3_LOG_STREAM])
    if (stream) await jsm.streams.delete(stream).catch(() => undefined);
  if (env.P3_DATABASE_SCHEMA) await pool.query(`DROP SCHEMA IF EXISTS ${env.P3_DATABASE_SCHEMA} CASCADE`);
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
  await Promise.all([nats.close(), redis.quit(), pool.end()]);
  if (out) await rm(out, { recursive: true, force: true });
}, 60_000);

function gateway(index: number): ClusterProcess {
  const found = cluster.find((p) => p.service === 'gateway' && p.index === index);
  if (!found) throw new Error(`no gateway-${index}`);
  return found;
}

function client(gatewayIndex: number, room: string, codec: 'binary' | 'json' = 'binary'): P3Client {
  const c = new P3Client({
    host: '127.0.0.1',
    port: gateway(gatewayIndex).port,
    // Every other gateway, tried in turn on reconnect: the clients of a dead gateway come back through the other.
    fallbacks: cluster
      .filter((p) => p.service === 'gateway' && p.index !== gatewayIndex)
      .map((p) => ({ host: '127.0.0.1', port: p.port })),
    instanceId: room,
    codec,
    autoConnect: false,
    reconnect: { minDelayMs: 50, maxDelayMs: 500 },
  });
  clients.push(c);
  return c;
}

/** Alice on gateway-1 and bob on gateway-2 in `room`; resolves once bob sees alice's player. */
async function meet(
  room: string,
  codecA: 'binary' | 'json',
  codecB: 'binary' | 'json',
): Promise<{ a: P3Client; b: P3Client; alice: string }> {
  const a = client(1, room, codecA);
  const b = client(2, room, codecB);
  await Promise.all([a.connect(), b.connect()]);
  const alice = a.createEntity('player', { name: 'alice' });
  await waitFor(
    () => b.getEntity(alice),
    (e) => e !== undefined,
    'bob sees alice',
  );
  return { a, b, alice };
}

/** The simulator process holding the room's lease now. */
async function owner(room: string): Promise<ClusterProcess> {
  const lease = await waitFor(
    () => redis.get(`${prefix}:lease:default:${encodeIdToken(room)}`),
    (value) => value !== null,
    `a lease on ${room}`,
    10_000,
  );
  const pid = Number(/-(\d+)-[a-z0-9]+\|/.exec(lease ?? '')?.[1]);
  const found = cluster.find((p) => p.service === 'simulator' && p.child.pid === pid);
  if (!found) throw new Error(`lease ${lease} names no simulator of this cluster`);
  return found;
}

async function metric(process: ClusterProcess, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${process.port}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(name)) sum += Number(line.split(' ').pop());
  return sum;
}

describe('the cluster as processes: 2 gateways, 2 simulators, 1 persister', () => {
  it('[CLUSTER-1] clients on two gateways in one room see each other (binary and JSON sockets)', async () => {
    const room = 'meet';
    const a = client(1, room, 'binary');
    const b = client(2, room, 'json');
    await Promise.all([a.connect(), b.connect()]);
    const alice = a.createEntity('player', { name: 'alice' });
    const bob = b.createEntity('player', { name: 'bob' });
    await waitFor(
      () => b.getEntity(alice)?.fields.name,
      (name) => name === 'alice',
      'bob sees alice',
      10_000,
    );
    await waitFor(
      () => a.getEntity(bob)?.fields.name,
      (name) => name === 'bob',
      'alice sees bob',
      10_000,
    );
    // Input travels gateway -> simulator, the movement comes back through the other gateway.
    const x0 = Number(b.getEntity(alice)?.fields.x);
    a.setInputState(alice, { right: x0 < 400, left: x0 >= 400 });
    await waitFor(
      () => Number(b.getEntity(alice)?.fields.x),
      (x) => Math.abs(x - x0) > 20,
      'alice moves at bob',
    );
  });

  it('[CLUSTER-2] rooms spread over both simulators, and a gateway subscribes only to rooms it serves', async () => {
    const rooms = Array.from({ length: 10 }, (_, i) => `spread-${i}`);
    const members = rooms.map((room) => client(1, room));
    await Promise.all(members.map((c) => c.connect()));
    const owners = new Set(await Promise.all(rooms.map(async (room) => (await owner(room)).name)));
    expect(owners.size).toBe(2);
    // gateway-2 has no member in any of these rooms: its room subscriptions are only the earlier test's.
    expect(await metric(gateway(1), 'p3_gateway_cluster_rooms_served')).toBeGreaterThanOrEqual(10);
    expect(await metric(gateway(2), 'p3_gateway_cluster_rooms_served')).toBeLessThanOrEqual(1);
    // Traffic follows: the ten rooms send a heartbeat a second each, to gateway-1 only.
    const output = 'p3_gateway_cluster_output_messages_total';
    const before = [await metric(gateway(1), output), await metric(gateway(2), output)];
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const one = (await metric(gateway(1), output)) - (before[0] ?? 0);
    const two = (await metric(gateway(2), output)) - (before[1] ?? 0);
    console.log(
      `[cluster] room output messages in 2 s: gateway-1 (10 rooms) ${one}, gateway-2 (1 room) ${two}`,
    );
    expect(one).toBeGreaterThanOrEqual(15);
    expect(two).toBeLessThanOrEqual(one / 5);
    await Promise.all(members.map((c) => c.disconnect()));
  });

  it('[CLUSTER-3] output of an older epoch published on the room subject reaches no client', async () => {
    const room = 'fenced';
    const a = client(1, room);
    await a.connect();
    const events: string[] = [];
    a.on('event', (event) => events.push(event.name));
    const bus = new NatsBus({ connection: nats, prefix });
    const json = new JsonCodec();
    // What a deposed owner (epoch 0, below every granted epoch) would still publish: a frame with an event.
    await waitFor(
      () => a.getFrame(0)?.id ?? -1,
      (f) => f > 0,
      'a first frame',
    );
    // The frame right after the client's latest (an idle room sends a heartbeat a second): accepted if it arrived.
    const now = a.getFrame(0)?.id ?? 0;
    const id = now + 1;
    const frame = json.encodeServer({
      type: 'frame',
      prev: id - 1,
      frame: {
        id,
        type: 'verified',
        time: 0,
        entities: [],
        removed: [],
        events: [{ id: 'stale-1', name: 'stale', type: 'x', data: null, originalFrame: id }],
      },
    });
    for (let seq = 1; seq <= 5; seq++)
      bus.publish(
        roomOutput({ tenant: 'default', room }),
        encodeEnvelope({
          epoch: 0,
          seq: 10_000 + seq,
          frame: now,
          payload: encodeRoomOutputBatch({ items: [{ kind: 'broadcast', message: frame }] }),
        }),
      );
    await bus.flush();
    await waitFor(
      () => a.getFrame(0)?.id ?? 0,
      (f) => f > now + 30,
      'the real owner goes on',
    );
    expect(events).not.toContain('stale');
    await a.disconnect();
  });

  it('[CLUSTER-4] kill -9 of the owning simulator: clients resume on the other, nothing acknowledged is lost', async () => {
    const room = 'failover';
    const { a, b, alice } = await meet(room, 'binary', 'json');
    // Acknowledged input changes under load: every 100 ms alice turns.
    let turns = 0;
    const load = setInterval(() => {
      turns++;
      const input = { right: turns % 2 === 0, left: turns % 2 === 1 };
      a.setInputState(alice, input);
    }, 100);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const victim = await owner(room);
    const killedAt = Date.now();
    victim.child.kill('SIGKILL');
    let bobsFirstFrameAfter = 0;
    const onFrame = () => {
      if (bobsFirstFrameAfter === 0 && b.connected && Date.now() > killedAt + 100)
        bobsFirstFrameAfter = Date.now();
    };
    b.on('frame', onFrame);
    const reconnects = { a: 0, b: 0 };
    a.on('connect', () => reconnects.a++);
    b.on('connect', () => reconnects.b++);
    await waitFor(
      () => reconnects.a > 0 && reconnects.b > 0 && bobsFirstFrameAfter > 0,
      Boolean,
      'both resume',
      20_000,
    );
    const failoverMs = bobsFirstFrameAfter - killedAt;
    const survivor = await owner(room);
    expect(survivor.name).not.toBe(victim.name);
    clearInterval(load);
    await waitFor(
      () => a.pendingOps,
      (n) => n === 0,
      'alice acked',
      10_000,
    );
    // Converged: bob sees alice's entity (same id, same owner) with alice's latest input.
    const finalInput = a.getEntity(alice)?.input;
    await waitFor(
      () => JSON.stringify(b.getEntity(alice)?.input),
      (input) => input === JSON.stringify(finalInput),
      'bob sees alice with her last input',
      10_000,
    );
    expect(b.getEntity(alice)?.owner).toBe(a.connectionId);
    console.log(
      `[cluster] kill -9 of ${victim.name}: bob's first frame from ${survivor.name} after ${failoverMs} ms ` +
        `(${turns} turns sent, reconnects a=${reconnects.a} b=${reconnects.b})`,
    );
    // Back to two simulators for what follows.
    cluster = cluster.filter((p) => p !== victim);
    cluster.push(await startClusterProcess(options, 'simulator', nextSimulator++));
    b.off('frame', onFrame);
  }, 60_000);

  it('[CLUSTER-5] kill -9 of a gateway: its clients reconnect through the other and resume with a delta; one that does not come back is removed', async () => {
    const room = 'gateway-dies';
    const { a, b, alice } = await meet(room, 'binary', 'binary');
    // Carol has no other gateway to go to: her session must end anyway once gateway-1 is known dead.
    const carol = new P3Client({
      host: '127.0.0.1',
      port: gateway(1).port,
      instanceId: room,
      autoConnect: false,
    });
    clients.push(carol);
    await carol.connect();
    const carols = carol.createEntity('player', { name: 'carol' });
    await waitFor(
      () => b.getEntity(carols),
      (e) => e !== undefined,
      'bob sees carol',
    );
    const first = a.connectionId;
    const resumed = new Promise<{ resumed: boolean; connectionId: string }>((resolve) =>
      a.on('connect', resolve),
    );
    const victim = gateway(1);
    const killedAt = Date.now();
    victim.child.kill('SIGKILL');
    const info = await resumed;
    const backMs = Date.now() - killedAt;
    expect(info).toMatchObject({ resumed: true, connectionId: first });
    // Alice is on gateway-2 now: her input reaches bob again.
    const x0 = Number(b.getEntity(alice)?.fields.x);
    a.setInputState(alice, { right: x0 < 400, left: x0 >= 400 });
    await waitFor(
      () => Number(b.getEntity(alice)?.fields.x),
      (x) => Math.abs(x - x0) > 20,
      'alice moves at bob',
    );
    // Gateway-1 leaves the gateways' membership (3 s TTL): the owner ends carol's session, her grace (4 s) runs out.
    await waitFor(
      () => b.getEntity(carols),
      (e) => e === undefined,
      "carol's player removed",
      20_000,
    );
    const goneMs = Date.now() - killedAt;
    console.log(
      `[cluster] kill -9 of gateway-1: alice resumed through gateway-2 after ${backMs} ms (delta welcome); ` +
        `carol (no other gateway) removed after ${goneMs} ms (gateway TTL + resume grace)`,
    );
    await carol.disconnect();
    cluster = cluster.filter((p) => p !== victim);
    // The same port again: only once the killed process released it.
    await victim.exited;
    cluster.push(await startClusterProcess(options, 'gateway', 1));
  }, 60_000);

  it('[CLUSTER-6] SIGTERM of a simulator hands its rooms off; snapshots written while the persister is down reach Postgres after its restart', async () => {
    const room = 'handoff';
    const { a, b, alice } = await meet(room, 'binary', 'json');
    const persister = cluster.find((p) => p.service === 'persister');
    if (!persister) throw new Error('no persister');
    persister.child.kill('SIGKILL');
    await persister.exited;
    const victim = await owner(room);
    const moved = new Promise<{ resumed: boolean; connectionId: string }>((resolve) =>
      a.on('connect', resolve),
    );
    victim.child.kill('SIGTERM');
    expect(await victim.exited).toBe(0);
    const info = await moved;
    expect(info).toMatchObject({ resumed: true, connectionId: a.connectionId });
    expect((await owner(room)).name).not.toBe(victim.name);
    await waitFor(
      () => b.getEntity(alice)?.owner,
      (o) => o === a.connectionId,
      'bob still sees alice',
    );
    // The final snapshot of the handoff went to the stream only; the restarted persister writes it.
    cluster = cluster.filter((p) => p !== victim && p !== persister);
    cluster.push(await startClusterProcess(options, 'persister', 1));
    const schema = clusterEnv(options, 'persister').P3_DATABASE_SCHEMA;
    const row = await waitFor(
      async () =>
        (
          await pool.query<{ epoch: string; version: string }>(
            `SELECT epoch, version FROM ${schema}.room_snapshots WHERE tenant = 'default' AND room = $1`,
            [room],
          )
        ).rows[0],
      (r) => r !== undefined,
      'the handoff snapshot in Postgres',
      20_000,
    );
    expect(Number(row?.epoch)).toBeGreaterThanOrEqual(1);
    cluster.push(await startClusterProcess(options, 'simulator', nextSimulator++));
  }, 90_000);

  it('[CLUSTER-7] /ecs-sync: sockets on two gateways share a document room; a kill -9 of its owner moves it, nothing acknowledged is lost', async () => {
    const url = (index: number) => `ws://127.0.0.1:${gateway(index).port}/ecs-sync`;
    const a = new WsTestClient(url(1), 'doc-a', 'notes');
    const b = new WsTestClient(url(2), 'doc-b', 'notes');
    await a.join();
    await b.join();
    a.edit({ n1: { text: 'hello' } });
    await a.sync();
    await waitFor(
      () => b.document().n1?.text,
      (text) => text === 'hello',
      'b sees n1',
    );
    const victim = await owner('doc/notes');
    const killedAt = Date.now();
    victim.child.kill('SIGKILL');
    // Document rooms send no heartbeat: the gateways notice the owner left membership and move the sockets.
    await waitFor(
      () => a.closes.length + b.closes.length,
      (n) => n === 2,
      'both sockets moved',
      15_000,
    );
    expect(a.closes[0]?.code).toBe(4006);
    expect(b.closes[0]?.code).toBe(4006);
    // The existing client reconnects with backoff; its reconnect diff resumes it on the next owner.
    await a.join();
    await b.join();
    const movedMs = Date.now() - killedAt;
    expect((await owner('doc/notes')).name).not.toBe(victim.name);
    expect(a.document().n1?.text).toBe('hello');
    b.edit({ n2: { text: 'after' } });
    await b.sync();
    await waitFor(
      () => a.document().n2?.text,
      (text) => text === 'after',
      'a sees n2',
    );
    console.log(
      `[cluster] kill -9 of a document room's owner: both sockets resumed on the next one after ${movedMs} ms`,
    );
    await a.disconnect();
    await b.disconnect();
    cluster = cluster.filter((p) => p !== victim);
    cluster.push(await startClusterProcess(options, 'simulator', nextSimulator++));
  }, 60_000);

  it('[CLUSTER-8] seed-002 HTTP on any gateway: changes posted on one are bootstrapped and streamed (SSE) on the other, across a kill -9 of the owner', async () => {
    const http = (index: number) => `http://127.0.0.1:${gateway(index).port}/v1/rooms/board`;
    const post = async (index: number, patches: unknown[]) => {
      const response = await fetch(`${http(index)}/changes`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ patches }),
      });
      expect(response.status, await response.clone().text()).toBe(200);
      return ((await response.json()) as { version: number }).version;
    };
    const events: Array<{ id: string; version: number }> = [];
    const source = new EventSource(`${http(2)}/sync`);
    source.addEventListener('change', (e) => {
      const message = e as MessageEvent<string>;
      events.push({
        id: message.lastEventId,
        version: (JSON.parse(message.data) as { version: number }).version,
      });
    });
    // What the stream went through, for a failure's message (an EventSource that met an error status gives up).
    const trace: string[] = [];
    source.addEventListener('open', () => trace.push('open'));
    source.addEventListener('error', () => trace.push(`error (readyState ${source.readyState})`));
    await new Promise((resolve) => source.addEventListener('open', resolve));
    const v1 = await post(1, [{ card: { title: 'first' } }]);
    await waitFor(
      () => events.at(-1)?.version ?? 0,
      (v) => v >= v1,
      'the change streamed on gateway-2',
    );
    const bootstrap = (await (await fetch(`${http(2)}/bootstrap`)).json()) as {
      version: number;
      objects: Array<{ key: string; data: Record<string, unknown> }>;
    };
    expect(bootstrap.version).toBeGreaterThanOrEqual(v1);
    expect(bootstrap.objects.find((o) => o.key === 'card')?.data.title).toBe('first');
    const victim = await owner('doc/board');
    victim.child.kill('SIGKILL');
    // The next change finds the next owner (after the lease expires); the stream resumes with Last-Event-ID.
    let v2 = 0;
    await waitFor(
      async () => {
        try {
          v2 = await post(1, [{ card: { title: 'second' } }]);
        } catch {
          v2 = 0;
        }
        return v2;
      },
      (v) => v > v1,
      'a change accepted by the next owner',
      30_000,
    );
    await waitFor(
      () => events.at(-1)?.version ?? 0,
      (v) => v >= v2,
      'the stream resumed on the next owner',
      30_000,
    ).catch((error: unknown) => {
      throw new Error(`${String(error)}; the stream: ${trace.join(', ')}`);
    });
    const after = (await (await fetch(`${http(2)}/bootstrap?since=0`)).json()) as {
      objects: Array<{ key: string; data: Record<string, unknown> }>;
    };
    expect(after.objects.find((o) => o.key === 'card')?.data.title).toBe('second');
    source.close();
    cluster = cluster.filter((p) => p !== victim);
    cluster.push(await startClusterProcess(options, 'simulator', nextSimulator++));
  }, 90_000);

  it('[CLUSTER-9] the demo page works on both gateways: two browsers, one on each, see each other', async () => {
    const browser = await launchChromium();
    try {
      const players = (index: number) => async () => {
        const page = await browser.newPage();
        await page.goto(`http://127.0.0.1:${gateway(index).port}/?room=cluster-demo&name=p${index}`);
        return page;
      };
      const pages = await Promise.all([players(1)(), players(2)()]);
      const seen = (page: (typeof pages)[number]) =>
        page.evaluate(() => {
          const demo = (
            window as unknown as {
              p3demo?: { client: { connected: boolean; getEntities(): Array<{ typeName: string }> } };
            }
          ).p3demo;
          if (!demo?.client.connected) return 0;
          return demo.client.getEntities().filter((e) => e.typeName === 'player').length;
        });
      for (const page of pages)
        await waitFor(
          () => seen(page),
          (n) => n === 2,
          'both players on the page',
          30_000,
        );
    } finally {
      await browser.close();
    }
  }, 60_000);

  it('[CLUSTER-10] a simulator joining takes over the rooms placement gives it (handoff: clients resume with a delta), and gives them back on SIGTERM', async () => {
    const rooms = Array.from({ length: 12 }, (_, i) => `rebalance-${i}`);
    const members = rooms.map((room, i) => client(1 + (i % 2), room));
    await Promise.all(members.map((c) => c.connect()));
    const resumes = members.map(() => [] as boolean[]);
    members.forEach((c, i) => c.on('connect', (info) => resumes[i]!.push(info.resumed)));
    const before = await Promise.all(rooms.map(async (room) => (await owner(room)).name));
    const third = await startClusterProcess(options, 'simulator', nextSimulator++);
    cluster.push(third);
    // Placement over three members moves about a third of the rooms; the old owners hand them off.
    await waitFor(
      async () =>
        (await Promise.all(rooms.map(async (room) => (await owner(room)).name))).filter(
          (n) => n === third.name,
        ).length,
      (n) => n > 0,
      'rooms on the new simulator',
      20_000,
    );
    const after = await Promise.all(rooms.map(async (room) => (await owner(room)).name));
    const moved = after.filter((name, i) => name !== before[i]).length;
    expect(after.filter((n, i) => n !== before[i] && n !== third.name)).toEqual([]);
    await waitFor(
      () => resumes.flat().length,
      (n) => n >= moved,
      'a reconnect for every room moved',
      20_000,
    );
    await waitFor(() => members.every((c) => c.connected), Boolean, 'every client connected again', 20_000);
    // Every client whose room moved resumed with a delta; the others never reconnected.
    expect(resumes.flat().every((resumed) => resumed)).toBe(true);
    console.log(
      `[cluster] a third simulator joined: ${moved} of ${rooms.length} rooms moved to it by handoff`,
    );
    third.child.kill('SIGTERM');
    expect(await third.exited).toBe(0);
    cluster = cluster.filter((p) => p !== third);
    await waitFor(
      () => members.every((c) => c.connected),
      Boolean,
      'every client connected after the SIGTERM',
      20_000,
    );
    await Promise.all(members.map((c) => c.disconnect()));
  }, 90_000);

  it('[CLUSTER-11] a document bigger than one NATS message: bootstrapped over HTTP and joined over /ecs-sync through the other gateway', async () => {
    const http = (index: number) => `http://127.0.0.1:${gateway(index).port}/v1/rooms/big`;
    // 3 x 400 objects of 1 KiB: about 1.2 MiB of state, above NATS' default max_payload (1 MiB).
    for (let batch = 0; batch < 3; batch++) {
      const patches = Array.from({ length: 400 }, (_, i) => ({
        [`k${batch}-${i}`]: { text: `${batch}-${i}-${'x'.repeat(1000)}` },
      }));
      const response = await fetch(`${http(1)}/changes`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ patches }),
      });
      expect(response.status, await response.clone().text()).toBe(200);
    }
    const response = await fetch(`${http(2)}/bootstrap`);
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text.length).toBeGreaterThan(1024 * 1024);
    expect((JSON.parse(text) as { objects: unknown[] }).objects).toHaveLength(1200);
    // The ecs-sync reconnect answer (the whole document) travels to the socket in parts of the room's output.
    const reader = new WsTestClient(`ws://127.0.0.1:${gateway(2).port}/ecs-sync`, 'big-reader', 'big');
    await reader.join();
    expect(Object.keys(reader.document())).toHaveLength(1200);
    expect(reader.document()['k2-399']?.text).toBe(`2-399-${'x'.repeat(1000)}`);
    await reader.disconnect();
  }, 60_000);

  it('[CLUSTER-12] a session whose leave the bus lost ends: two rosters of its gateway without it', async () => {
    const room = 'lost-leave';
    const { a, b, alice } = await meet(room, 'binary', 'binary');
    const bus = new NatsBus({ connection: nats, prefix });
    const gatewayId = `${prefix}-gateway-1-${process.pid}`;
    const moved = new Promise<{ code: number }>((resolve) => a.on('disconnect', resolve));
    // What gateway-1 would send had alice's socket closed and its leave been lost: rosters without her attachment.
    for (let i = 0; i < 2; i++)
      bus.publish(
        roomInput({ tenant: 'default', room }),
        encodeRoomInputBatch({ gateway: gatewayId, items: [], roster: [] }),
      );
    await bus.flush();
    // The owner ended her session: her next input is for an attachment it does not know, so her socket moves (4006),
    // and she resumes within her grace, same player.
    a.setInputState(alice, { right: true });
    expect((await moved).code).toBe(4006);
    await waitFor(() => a.connected, Boolean, 'alice back', 10_000);
    expect(b.getEntity(alice)).toBeDefined();
  }, 30_000);
});
