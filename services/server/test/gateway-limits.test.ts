import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { CloseCode, ErrorCode, PROTOCOL_VERSION } from '@p3/protocol';
import type { GatewayConfig } from '@p3/gateway';
import { P3Server } from '@p3/server';
import { RawClient, WsTestClient, until } from '@p3/test-support';

const servers: P3Server[] = [];
const closers: Array<() => unknown> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
  for (const s of servers.splice(0)) await s.close();
});

async function start(gateway: Partial<GatewayConfig> = {}): Promise<P3Server> {
  const server = new P3Server({
    port: 0,
    host: '127.0.0.1',
    tickRate: 30,
    instanceId: 'limits',
    storage: 'memory',
    logLevel: 'silent',
    gateway,
  });
  servers.push(await server.listen());
  return server;
}

async function joined(server: P3Server, clientId: string, room = 'limits'): Promise<RawClient> {
  const client = await RawClient.open(`ws://127.0.0.1:${server.port}/v1/connect`);
  closers.push(() => client.close());
  client.send({ type: 'join', protocolVersion: PROTOCOL_VERSION, room, clientId, sessionStamp: 1 });
  await client.next('welcome');
  return client;
}

/** One `event` op carrying `bytes` of payload: what every member of the room receives. */
function bigEvent(seq: number, bytes: number) {
  return {
    type: 'ops' as const,
    stamp: 1,
    seq,
    ops: [{ op: 'event' as const, name: `e${seq}`, eventType: 'blob', data: 'x'.repeat(bytes) }],
  };
}

const eventsSeen = (client: RawClient) =>
  client.of('frame').reduce((n, m) => n + m.frame.events.filter((e) => e.type === 'blob').length, 0);

/** Waits until everything `sender` sent so far was handled and the frames it caused reached `member`. */
async function settled(sender: RawClient, member: RawClient): Promise<void> {
  // The ping must not be dropped itself: give the buckets a moment to refill.
  await new Promise((r) => setTimeout(r, 100));
  sender.send({ type: 'ping', id: sender.received.length, clientTime: 0 });
  const pong = await sender.nextNew('pong');
  // The member's stream passed that frame: a frame, or a heartbeat when the ticks changed nothing ([IDLE-2]).
  const past = pong.frame + 1;
  await until(() =>
    member.received.some((m) => (m.type === 'frame' ? m.frame.id : m.type === 'idle' ? m.through : 0) > past),
  );
}

/** Plenty of messages per second: the byte rates are what a test looks at. */
const manyMessages = { messagesPerSecond: 10_000, burst: 10_000, closeAfterDropped: 1_000_000 };

describe('gateway inbound limits', () => {
  it('[LIMIT-1] drops what a connection sends over its byte rate (BYTE_RATE_LIMITED), so one client cannot flood a room', async () => {
    const rate = 64 * 1024;
    const burst = 128 * 1024;
    const server = await start({
      rateLimit: manyMessages,
      byteRate: {
        connectionBytesPerSecond: rate,
        connectionBurstBytes: burst,
        roomBytesPerSecond: 1024 * 1024 * 1024,
        roomBurstBytes: 1024 * 1024 * 1024,
      },
    });
    const sender = await joined(server, 'sender');
    const member = await joined(server, 'member');
    const started = performance.now();
    for (let seq = 1; seq <= 100; seq++) sender.send(bigEvent(seq, 20_000));
    const error = await sender.next('error', (e) => e.code === ErrorCode.ByteRateLimited);
    expect(error.reason).toContain(`${rate} bytes per second`);
    await settled(sender, member);
    const seconds = (performance.now() - started) / 1000;
    const allowed = Math.ceil((burst + rate * seconds) / 20_000) + 1;
    expect(eventsSeen(member)).toBeLessThanOrEqual(allowed);
    expect(eventsSeen(member)).toBeLessThan(100);
    expect(sender.closeCode).toBeUndefined();
  });

  it('[LIMIT-2] bounds the bytes a whole room receives, however many members send', async () => {
    const roomRate = 64 * 1024;
    const roomBurst = 128 * 1024;
    const server = await start({
      rateLimit: manyMessages,
      byteRate: {
        connectionBytesPerSecond: 1024 * 1024 * 1024,
        connectionBurstBytes: 1024 * 1024 * 1024,
        roomBytesPerSecond: roomRate,
        roomBurstBytes: roomBurst,
      },
    });
    const senders = await Promise.all([1, 2, 3, 4].map((i) => joined(server, `sender-${i}`)));
    const member = await joined(server, 'member');
    // Another room has a budget of its own.
    const elsewhere = await joined(server, 'elsewhere', 'other-room');
    const started = performance.now();
    for (let seq = 1; seq <= 25; seq++) for (const sender of senders) sender.send(bigEvent(seq, 20_000));
    await Promise.race(
      senders.map((s) =>
        s.next('error', (e) => e.code === ErrorCode.ByteRateLimited && e.reason.includes('the room')),
      ),
    );
    elsewhere.send(bigEvent(1, 20_000));
    await elsewhere.next('frame', (m) => m.frame.events.some((e) => e.type === 'blob'));
    for (const sender of senders) await settled(sender, member);
    const seconds = (performance.now() - started) / 1000;
    expect(eventsSeen(member)).toBeLessThanOrEqual(Math.ceil((roomBurst + roomRate * seconds) / 20_000) + 1);
    expect(eventsSeen(member)).toBeLessThan(100);
  });

  it('[LIMIT-3] answers resync requests over their rate with RATE_LIMITED instead of building a state for each', async () => {
    const server = await start({ rateLimit: manyMessages, resyncRate: { perSecond: 2, burst: 4 } });
    const client = await joined(server, 'resyncer');
    const started = performance.now();
    for (let i = 0; i < 40; i++) client.send({ type: 'resync', frame: 0 });
    client.send({ type: 'ping', id: 1, clientTime: 0 });
    await client.next('pong');
    await until(() => client.of('catchup').length + client.of('error').length >= 40, 5000, '40 answers');
    const seconds = (performance.now() - started) / 1000;
    expect(client.of('catchup').length).toBeLessThanOrEqual(4 + Math.ceil(2 * seconds) + 1);
    const refused = client.of('error').filter((e) => e.code === ErrorCode.RateLimited);
    expect(refused.length).toBeGreaterThanOrEqual(40 - 4 - Math.ceil(2 * seconds) - 1);
    expect(refused[0]!.reason).toContain('resync');
    expect(client.closeCode).toBeUndefined();
  });

  it('[LIMIT-4] closes a socket that keeps sending refused messages (join after join) with 4106', async () => {
    const server = await start({ refusals: { perSecond: 1, burst: 50 } });
    const client = await joined(server, 'joiner');
    for (let i = 0; i < 200; i++)
      client.send({
        type: 'join',
        protocolVersion: PROTOCOL_VERSION,
        room: 'limits',
        clientId: 'joiner',
        sessionStamp: 1,
      });
    const closed = await client.closed();
    expect(closed.code).toBe(CloseCode.ProtocolViolation);
    expect(closed.reason).toContain('too many refused messages');
    const refusals = client.of('error').filter((e) => e.code === ErrorCode.AlreadyJoined).length;
    expect(refusals).toBeGreaterThanOrEqual(50);
    expect(refusals).toBeLessThanOrEqual(55);
  });

  it('[LIMIT-4] keeps a socket whose refusals stay within the budget', async () => {
    const server = await start({ refusals: { perSecond: 1, burst: 50 } });
    const client = await joined(server, 'sometimes-wrong');
    for (let i = 0; i < 20; i++) client.sendRaw('{"type":"teleport"}');
    client.send({ type: 'ping', id: 1, clientTime: 0 });
    await client.next('pong');
    await until(() => client.of('error').length === 20, 5000, '20 errors');
    expect(client.closeCode).toBeUndefined();
  });

  it('[LIMIT-1] rate-limits /ecs-sync messages per socket and closes a socket that keeps flooding (4107)', async () => {
    // A slow refill: the close needs 400 drops in a row, and a token refilled while a loaded machine works through
    // the flood admits one message and starts the count again (at 20 a second, one came every 50 ms: flaky).
    const perSecond = 2;
    const server = await start({
      rateLimit: { messagesPerSecond: perSecond, burst: 20, closeAfterDropped: 400 },
    });
    const flooder = new WsTestClient(`ws://127.0.0.1:${server.port}/ecs-sync`, 'flooder', 'flood-doc');
    closers.push(() => flooder.disconnect());
    await flooder.join();
    const started = performance.now();
    for (let i = 0; i < 300; i++) flooder.edit({ [`k${i}`]: { _exists: true, n: i } });
    await until(
      () => flooder.received.some((m) => m.type === 'error' && m.code === ErrorCode.RateLimited),
      5000,
      'RATE_LIMITED',
    );
    await new Promise((r) => setTimeout(r, 300));
    const seconds = (performance.now() - started) / 1000;
    const acks = flooder.received.filter((m) => m.type === 'ack').length;
    // The bucket started with its burst minus the join's reconnect and sync messages.
    expect(acks).toBeLessThanOrEqual(20 + Math.ceil(perSecond * seconds) + 2);
    expect(flooder.closes).toEqual([]);
    for (let i = 0; i < 500; i++) flooder.sendJson({ type: 'patch', messageId: `m${i}` });
    await until(() => flooder.closes.length === 1, 5000, 'the close');
    expect(flooder.closes[0]!.code).toBe(CloseCode.RateLimited);
  });

  it('[LIMIT-2] the room byte budget is shared by /ecs-sync sockets', async () => {
    const server = await start({
      rateLimit: manyMessages,
      byteRate: {
        connectionBytesPerSecond: 1024 * 1024 * 1024,
        connectionBurstBytes: 1024 * 1024 * 1024,
        roomBytesPerSecond: 16 * 1024,
        roomBurstBytes: 32 * 1024,
      },
    });
    const clients = [1, 2].map(
      (i) => new WsTestClient(`ws://127.0.0.1:${server.port}/ecs-sync`, `w${i}`, 'doc-budget'),
    );
    for (const c of clients) closers.push(() => c.disconnect());
    for (const c of clients) await c.join();
    for (let i = 0; i < 10; i++)
      for (const c of clients) c.edit({ [`${c.clientId}-${i}`]: { text: 'y'.repeat(8_000) } });
    await until(
      () =>
        clients.some((c) =>
          c.received.some((m) => m.type === 'error' && m.code === ErrorCode.ByteRateLimited),
        ),
      5000,
      'BYTE_RATE_LIMITED',
    );
    const acks = clients.reduce((n, c) => n + c.received.filter((m) => m.type === 'ack').length, 0);
    expect(acks).toBeLessThan(20);
  });
});

describe('payload cap', () => {
  const cap = 100 * 1024;

  async function closeOf(url: string, bytes: number): Promise<{ code: number; reason: string }> {
    const socket = new WebSocket(url, ['p3.json']);
    await new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    return new Promise((resolve) => {
      socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() }));
      socket.send('x'.repeat(bytes));
    });
  }

  it('[LIMIT-5] closes /v1/connect and /ecs-sync with 1009 and a reason past the payload cap', async () => {
    const server = await start({ maxPayloadBytes: cap, maxMessageBytes: 64 * 1024 });
    const connect = await closeOf(`ws://127.0.0.1:${server.port}/v1/connect`, cap + 1);
    expect(connect.code).toBe(CloseCode.MessageTooBig);
    expect(connect.reason).toContain(`payload cap of ${cap}`);
    // /ecs-sync keeps its own cap (default 1 MiB).
    const ecs = await closeOf(
      `ws://127.0.0.1:${server.port}/ecs-sync?roomId=cap&clientId=c`,
      1024 * 1024 + 1,
    );
    expect(ecs.code).toBe(CloseCode.MessageTooBig);
    expect(ecs.reason).toContain('payload cap');
  });

  it('[LIMIT-5] past twice the cap uWS drops the connection without a close frame (1006), as documented', async () => {
    const server = await start({ maxPayloadBytes: cap, maxMessageBytes: 64 * 1024 });
    const connect = await closeOf(`ws://127.0.0.1:${server.port}/v1/connect`, 2 * cap + 1);
    expect(connect.code).toBe(1006);
  });

  it('keeps answering TOO_LARGE between the message limit and the payload cap', async () => {
    const server = await start({ maxPayloadBytes: cap, maxMessageBytes: 64 * 1024 });
    const client = await joined(server, 'big');
    client.sendRaw('x'.repeat(80 * 1024));
    expect((await client.next('error')).code).toBe(ErrorCode.TooLarge);
    expect(client.closeCode).toBeUndefined();
  });
});
