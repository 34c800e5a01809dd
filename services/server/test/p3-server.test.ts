import { afterEach, describe, expect, it } from 'vitest';
import { CloseCode, ErrorCode, PROTOCOL_VERSION, type Op } from '@p3/protocol';
import { P3Server, type FrameDroppedInfo, type P3Connection } from '@p3/server';
import { RawClient, until, waitFor } from '@p3/test-support';

const servers: P3Server[] = [];
const clients: RawClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of servers.splice(0)) await s.close();
});

const ids = {
  a: '0190d7a0-0000-7000-8000-0000000000a1',
  b: '0190d7a0-0000-7000-8000-0000000000b1',
};

async function arena(
  options: { bufferFrame?: number; resumeGraceMs?: number; rate?: number } = {},
): Promise<P3Server> {
  const server = new P3Server({
    port: 0,
    host: '127.0.0.1',
    tickRate: 30,
    bufferFrame: options.bufferFrame ?? 20,
    instanceId: 'arena',
    storage: 'memory',
    logLevel: 'silent',
    simulator: { resumeGraceMs: options.resumeGraceMs ?? 200 },
    ...(options.rate === undefined
      ? {}
      : {
          gateway: {
            rateLimit: { messagesPerSecond: options.rate, burst: options.rate, closeAfterDropped: 1_000_000 },
          },
        }),
  });
  server.createEntityType('player', {
    connectionBound: true,
    fields: {
      x: { dataType: 'number', min: 0, max: 1000, accessControl: 'client', interpolate: true },
      color: { dataType: 'string', accessControl: 'seed', default: 'red' },
      score: { dataType: 'integer', min: 0, max: 1_000_000 },
    },
  });
  server.on('tick', (ctx) => {
    for (const p of ctx.entities('player')) if (p.isOn('right')) p.set('x', p.get<number>('x') + 1);
  });
  servers.push(await server.listen());
  return server;
}

async function joined(
  server: P3Server,
  clientId: string,
  codec: 'json' | 'binary' = 'json',
  extra: { resumeFrame?: number; stamp?: number } = {},
) {
  const client = await RawClient.open(`ws://127.0.0.1:${server.port}/v1/connect`, codec);
  clients.push(client);
  client.send({
    type: 'join',
    protocolVersion: PROTOCOL_VERSION,
    room: 'arena',
    clientId,
    sessionStamp: extra.stamp ?? 1,
    ...(extra.resumeFrame === undefined ? {} : { resumeFrame: extra.resumeFrame }),
  });
  const welcome = await client.next('welcome');
  return { client, welcome };
}

const ops = (seq: number, ...list: Op[]) => ({ type: 'ops' as const, stamp: 1, seq, ops: list });

describe('P3Server over real sockets', () => {
  it('welcomes a JSON and a binary client with the schema and the current frame', async () => {
    const server = await arena();
    const { welcome } = await joined(server, 'json-client');
    const binary = await joined(server, 'binary-client', 'binary');
    expect(welcome).toMatchObject({
      protocolVersion: PROTOCOL_VERSION,
      room: 'arena',
      tickRate: 30,
      bufferFrame: 20,
      delta: false,
    });
    expect(Object.keys(welcome.schema.player!.fields)).toEqual(['x', 'color', 'score']);
    expect(binary.welcome.schema).toEqual(welcome.schema);
  });

  it('runs the entity lifecycle: create, update, input, delete seen by another client', async () => {
    const server = await arena();
    const alice = await joined(server, 'alice');
    const bob = await joined(server, 'bob');
    const carol = await joined(server, 'carol', 'binary');
    alice.client.send(
      ops(1, { op: 'create', entityId: ids.a, typeName: 'player', data: { x: 10, color: 'blue' } }),
    );
    // Binary quantizes x (min..max over 16 bits): within half a step of the value.
    const quantized = await carol.client.next('frame', (m) => m.frame.entities.some((e) => e.id === ids.a));
    expect(quantized.frame.entities[0]?.fields?.x).toBeCloseTo(10, 1);
    const created = await bob.client.next('frame', (m) =>
      m.frame.entities.some((e) => e.id === ids.a && e.created === true),
    );
    expect(created.frame.entities.find((e) => e.id === ids.a)).toMatchObject({
      owner: alice.welcome.connectionId,
      fields: { x: 10, color: 'blue', score: 0 },
    });
    alice.client.send(ops(2, { op: 'update', entityId: ids.a, data: { x: 20 } }));
    await bob.client.next('frame', (m) => m.frame.entities.some((e) => e.id === ids.a && e.fields?.x === 20));
    alice.client.send(ops(3, { op: 'input', entityId: ids.a, input: { right: true } }));
    await bob.client.next('frame', (m) =>
      m.frame.entities.some((e) => e.id === ids.a && (e.fields?.x as number) >= 22),
    );
    alice.client.send(ops(4, { op: 'delete', entityId: ids.a }));
    await bob.client.next('frame', (m) => m.frame.removed.includes(ids.a));
    expect(await alice.client.next('ack', (a) => a.seq === 4)).toEqual({ type: 'ack', stamp: 1, seq: 4 });
    expect(server.getEntities('player')).toEqual([]);
  });

  it('refuses writes the schema forbids, with codes, and tells server code about created entities', async () => {
    const server = await arena();
    const seen: string[] = [];
    server.on('connection', (c: P3Connection) => c.on('entityCreated', (e) => seen.push(`${c.id}:${e.id}`)));
    const alice = await joined(server, 'alice');
    const bob = await joined(server, 'bob');
    alice.client.send(ops(1, { op: 'create', entityId: ids.a, typeName: 'player', data: {} }));
    await alice.client.next('frame', (m) => m.frame.entities.some((e) => e.id === ids.a));
    bob.client.send(ops(1, { op: 'update', entityId: ids.a, data: { x: 1 } }));
    alice.client.send(
      ops(
        2,
        { op: 'update', entityId: ids.a, data: { score: 99 } },
        { op: 'update', entityId: ids.a, data: { color: 'x' } },
        { op: 'update', entityId: ids.a, data: { x: 5000 } },
      ),
    );
    expect((await bob.client.next('reject')).code).toBe(ErrorCode.NotOwner);
    await alice.client.next('reject', (r) => r.seq === 4);
    expect(alice.client.of('reject').map((r) => [r.seq, r.code])).toEqual([
      [2, ErrorCode.AccessDenied],
      [3, ErrorCode.SeedField],
      [4, ErrorCode.OutOfRange],
    ]);
    expect(seen).toEqual([`${alice.welcome.connectionId}:${ids.a}`]);
    expect(
      server
        .getConnections('arena')
        .find((c) => c.id === alice.welcome.connectionId)
        ?.getEntities()
        .map((e) => e.id),
    ).toEqual([ids.a]);
  });

  it('removes connection-bound entities once a client is gone past its resume grace', async () => {
    const server = await arena({ resumeGraceMs: 100 });
    const left: string[] = [];
    server.on('disconnection', (c: P3Connection) => left.push(c.clientId));
    const alice = await joined(server, 'alice');
    const bob = await joined(server, 'bob');
    alice.client.send(ops(1, { op: 'create', entityId: ids.a, typeName: 'player', data: {} }));
    await bob.client.next('frame', (m) => m.frame.entities.some((e) => e.id === ids.a));
    alice.client.close();
    await bob.client.next('frame', (m) => m.frame.removed.includes(ids.a));
    expect(left).toEqual(['alice']);
  });

  it('delivers frames in order with no gaps', async () => {
    const server = await arena();
    const { client, welcome } = await joined(server, 'watcher', 'binary');
    const mover = await joined(server, 'mover');
    mover.client.send(ops(1, { op: 'create', entityId: ids.a, typeName: 'player', data: {} }));
    mover.client.send(ops(2, { op: 'input', entityId: ids.a, input: { right: true } }));
    await client.next('frame', (m) => m.frame.id >= welcome.frame + 15);
    // Empty ticks before the player moved were skipped ([IDLE-1]): each frame names the one it follows, and a
    // heartbeat the empty ones ([IDLE-2]); from the first move on, every tick changes something.
    let held = welcome.frame;
    for (const m of client.received) {
      if (m.type === 'frame' && m.frame.id > held) {
        expect(m.prev ?? m.frame.id - 1).toBeLessThanOrEqual(held);
        held = m.frame.id;
      } else if (m.type === 'idle') {
        expect(m.prev).toBeLessThanOrEqual(held);
        held = Math.max(held, m.through);
      }
    }
    const moving = client.of('frame').filter((m) => m.frame.entities.some((e) => e.fields?.x !== undefined));
    const frameIds = moving.map((m) => m.frame.id);
    expect(frameIds.length).toBeGreaterThan(3);
    expect(frameIds).toEqual(frameIds.map((_, i) => frameIds[0]! + i));
  });

  it('re-issues corrected frames after a late input, and refuses inputs beyond the window (frameDropped)', async () => {
    const server = await arena({ bufferFrame: 10 });
    const dropped: FrameDroppedInfo[] = [];
    server.on('frameDropped', (info: FrameDroppedInfo) => dropped.push(info));
    const alice = await joined(server, 'alice');
    alice.client.send(ops(1, { op: 'create', entityId: ids.a, typeName: 'player', data: {} }));
    const after = await alice.client.next('frame', (m) => m.frame.entities.some((e) => e.id === ids.a));
    // The next ticks change nothing and are not sent ([IDLE-1]): wait for the room's frame.
    const room = await server.instance('arena');
    await until(() => room.world.frame >= after.frame.id + 3);
    alice.client.send(
      ops(2, { op: 'input', entityId: ids.a, input: { right: true }, frame: after.frame.id + 1 }),
    );
    const corrected = await alice.client.next('frame', (m) => m.frame.type === 'corrected');
    expect(corrected.frame.id).toBe(after.frame.id + 1);
    await alice.client.next('frame', (m) => m.frame.id >= 12);
    alice.client.send(ops(3, { op: 'input', entityId: ids.a, input: { right: false }, frame: 1 }));
    expect((await alice.client.next('reject', (r) => r.seq === 3)).code).toBe(ErrorCode.FrameDropped);
    await until(() => dropped.length === 1);
    expect(dropped[0]).toMatchObject({
      instanceId: 'arena',
      connectionId: alice.welcome.connectionId,
      frame: 1,
    });
  });

  it('resumes a reconnecting client with a delta and its last applied sequence number', async () => {
    const server = await arena({ resumeGraceMs: 5000 });
    const alice = await joined(server, 'alice');
    alice.client.send(ops(1, { op: 'create', entityId: ids.a, typeName: 'player', data: {} }));
    const seen = await alice.client.next('frame', (m) => m.frame.entities.some((e) => e.id === ids.a));
    alice.client.close();
    await alice.client.closed();
    const bob = await joined(server, 'bob');
    bob.client.send(ops(1, { op: 'create', entityId: ids.b, typeName: 'player', data: { x: 7 } }));
    await bob.client.next('frame', (m) => m.frame.entities.some((e) => e.id === ids.b));
    const again = await joined(server, 'alice', 'json', { resumeFrame: seen.frame.id });
    expect(again.welcome).toMatchObject({
      connectionId: alice.welcome.connectionId,
      delta: true,
      lastSeq: 1,
    });
    expect(again.welcome.entities.map((e) => e.id)).toEqual([ids.b]);
  });

  it('answers malformed, unknown and oversized messages with typed errors, other clients unaffected', async () => {
    const server = await arena();
    const bad = await joined(server, 'mallory');
    const good = await joined(server, 'alice', 'binary');
    bad.client.sendRaw('{"type":"ops", nope');
    bad.client.sendRaw('{"type":"teleport"}');
    bad.client.sendRaw(
      JSON.stringify({
        type: 'ops',
        stamp: 1,
        seq: 1,
        ops: [{ op: 'update', entityId: ids.a, data: { __proto__: 1 } }],
      }).replace('"data":{}', '"data":{"__proto__":{"polluted":true}}'),
    );
    bad.client.sendRaw('x'.repeat(70 * 1024));
    bad.client.sendRaw(
      JSON.stringify({
        type: 'ops',
        stamp: 1,
        seq: 1,
        ops: [{ op: 'create', entityId: 'not-a-uuid', typeName: 'player', data: {} }],
      }),
    );
    await until(() => bad.client.of('error').length === 5);
    expect(bad.client.of('error').map((e) => e.code)).toEqual([
      ErrorCode.Malformed,
      ErrorCode.UnknownMessageType,
      ErrorCode.PrototypeKey,
      ErrorCode.TooLarge,
      ErrorCode.InvalidMessage,
    ]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    // The good client moves a player: every tick sends it a frame ([IDLE-1]).
    good.client.send(ops(1, { op: 'create', entityId: ids.b, typeName: 'player', data: {} }));
    good.client.send(ops(2, { op: 'input', entityId: ids.b, input: { right: true } }));
    const before = good.client.of('frame').length;
    good.client.send({ type: 'ping', id: 1, clientTime: 1 });
    await good.client.next('pong');
    await until(() => good.client.of('frame').length > before + 3);
    expect(bad.client.closeCode).toBeUndefined();
  });

  it('limits a flooding client without starving the others', async () => {
    const server = await arena({ rate: 50 });
    const flood = await joined(server, 'flood');
    const calm = await joined(server, 'calm');
    // The calm client moves a player: every tick sends it a frame ([IDLE-1]).
    calm.client.send(ops(1, { op: 'create', entityId: ids.b, typeName: 'player', data: {} }));
    calm.client.send(ops(2, { op: 'input', entityId: ids.b, input: { right: true } }));
    const started = calm.client.of('frame').length;
    const floodStarted = performance.now();
    for (let i = 0; i < 5000; i++) flood.client.send({ type: 'ping', id: i, clientTime: i });
    await flood.client.next('error', (e) => e.code === ErrorCode.RateLimited);
    await until(() => calm.client.of('frame').length >= started + 10, 5000, 'frames for the calm client');
    calm.client.send({ type: 'ping', id: 1, clientTime: 0 });
    await calm.client.next('pong');
    // The bucket lets through its burst plus its rate for the time the flood took to arrive (slower when loaded).
    const seconds = (performance.now() - floodStarted) / 1000;
    expect(flood.client.of('pong').length).toBeLessThanOrEqual(50 + Math.ceil(50 * seconds) + 5);
    expect(flood.client.of('pong').length).toBeLessThan(5000);
  });

  it('closes with clear codes: wrong protocol version, a second join, no join in time', async () => {
    const server = await arena();
    const old = await RawClient.open(`ws://127.0.0.1:${server.port}/v1/connect`);
    clients.push(old);
    old.send({ type: 'join', protocolVersion: 99, room: 'arena', clientId: 'old', sessionStamp: 1 });
    expect(await old.closed()).toEqual({
      code: CloseCode.ProtocolVersion,
      reason: expect.stringContaining('unsupported'),
    });
    expect((await old.next('error')).code).toBe(ErrorCode.ProtocolVersion);
    const twice = await joined(server, 'twice');
    twice.client.send({
      type: 'join',
      protocolVersion: PROTOCOL_VERSION,
      room: 'arena',
      clientId: 'twice',
      sessionStamp: 1,
    });
    expect((await twice.client.next('error')).code).toBe(ErrorCode.AlreadyJoined);
    const early = await RawClient.open(`ws://127.0.0.1:${server.port}/v1/connect`);
    clients.push(early);
    early.send({ type: 'ping', id: 1, clientTime: 1 });
    expect((await early.next('error')).code).toBe(ErrorCode.NotJoined);
  });

  it('serves health, readiness and Prometheus metrics', async () => {
    const server = await arena();
    await joined(server, 'alice');
    const base = `http://127.0.0.1:${server.port}`;
    expect(await (await fetch(`${base}/healthz`)).text()).toBe('ok');
    expect(await (await fetch(`${base}/readyz`)).json()).toEqual({ ready: true, draining: false });
    const tickCount = (text: string): number =>
      Number(/p3_simulator_tick_lateness_seconds_count (\d+)/.exec(text)?.[1] ?? 0);
    // Every tick timer reports its lateness and work (the server's share of every member's latency).
    const metrics = await waitFor(
      async () => (await fetch(`${base}/metrics`)).text(),
      (text) => tickCount(text) > 0,
      'a tick in the metrics',
      5_000,
    );
    expect(metrics).toMatch(/p3_gateway_connections 1/);
    expect(metrics).toMatch(/p3_simulator_rooms 1/);
    expect(metrics).toMatch(/p3_simulator_frames_total \d+/);
    expect(Number(/p3_simulator_tick_seconds_count (\d+)/.exec(metrics)?.[1])).toBe(tickCount(metrics));
    // Hot-path counters are plain sums moved into prom-client at scrape time: the join message was counted.
    expect(Number(/p3_gateway_bytes_in_total (\d+)/.exec(metrics)?.[1])).toBeGreaterThan(0);
    expect(metrics).toMatch(/p3_gateway_messages_in_total\{type="join"\} 1/);
    expect((await fetch(`${base}/nope`)).status).toBe(404);
  });

  it('drains on close: clients get the reconnect-elsewhere code', async () => {
    const server = await arena();
    const { client } = await joined(server, 'alice');
    await server.close();
    servers.splice(servers.indexOf(server), 1);
    expect((await client.closed()).code).toBe(CloseCode.ServerDraining);
  });
});
