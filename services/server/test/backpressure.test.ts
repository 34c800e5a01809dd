import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { CloseCode, PROTOCOL_VERSION } from '@p3/protocol';
import { defineWorld } from '@p3/engine';
import { P3Server } from '@p3/server';
import { RawClient } from '@p3/test-support';

const servers: P3Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

/** Four 60 KB blobs rewritten every tick at 60 Hz: about 14 MB/s towards every member. */
const firehose = defineWorld({
  schema: { blob: { fields: { payload: { dataType: 'string', maxLength: 65_536 } } } },
  tick(ctx) {
    if (ctx.frame === 1) for (let i = 0; i < 4; i++) ctx.create('blob', { payload: '' });
    const text = String(ctx.frame % 10).repeat(60_000);
    for (const blob of ctx.entities('blob')) blob.set('payload', text);
  },
});

async function start(backpressure: {
  softBytes: number;
  hardBytes: number;
  resumeBytes: number;
}): Promise<P3Server> {
  const server = new P3Server({
    port: 0,
    host: '127.0.0.1',
    tickRate: 60,
    instanceId: 'hose',
    world: firehose,
    storage: 'memory',
    logLevel: 'silent',
    gateway: { backpressure },
  });
  servers.push(await server.listen());
  return server;
}

async function join(server: P3Server): Promise<RawClient> {
  const client = await RawClient.open(`ws://127.0.0.1:${server.port}/v1/connect`);
  client.send({
    type: 'join',
    protocolVersion: PROTOCOL_VERSION,
    room: 'hose',
    clientId: `c${Math.random()}`,
    sessionStamp: 1,
  });
  await client.next('welcome');
  return client;
}

/** Stops reading from the TCP socket (the kernel buffers fill, then the server's send buffer grows). */
function tcp(client: RawClient): Socket {
  return (client.socket as unknown as { _socket: Socket })._socket;
}

async function metric(server: P3Server, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(name));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

describe('gateway backpressure', () => {
  it('[FANOUT-1] stops sending every frame to a slow reader and sends one catch-up delta once it drains', async () => {
    const server = await start({
      softBytes: 256 * 1024,
      hardBytes: 256 * 1024 * 1024,
      resumeBytes: 32 * 1024,
    });
    const slow = await join(server);
    const fast = await join(server);
    tcp(slow).pause();
    const lagging = 'p3_gateway_backpressure_total{action="lagging"}';
    for (let i = 0; i < 200 && (await metric(server, lagging)) < 1; i++)
      await new Promise((r) => setTimeout(r, 50));
    expect(await metric(server, lagging)).toBe(1);
    const fastFrames = fast.of('frame').length;
    tcp(slow).resume();
    const catchup = await slow.next('catchup', () => true, 15_000);
    expect(catchup.full).toBe(false);
    expect(catchup.to).toBeGreaterThan(catchup.from);
    // [FANOUT-1] No frame between passing the soft bound and the catch-up: the frames before it end with the last
    // one sent before the member left the topic (the catch-up's `from`), whatever the room ticked meanwhile.
    const framesBefore = slow.received
      .slice(0, slow.received.indexOf(catchup))
      .flatMap((m) => (m.type === 'frame' ? [m.frame.id] : []));
    expect(framesBefore.length).toBeGreaterThan(0);
    expect(Math.max(...framesBefore)).toBe(catchup.from);
    const next = await slow.nextNew('frame', () => true, 5000);
    expect(next.frame.id).toBeGreaterThan(catchup.from);
    // The fast reader keeps getting frames (under a loaded machine it may itself lag for a while: wait for one).
    await fast.nextNew('frame', () => true, 15_000);
    expect(fast.of('frame').length).toBeGreaterThan(fastFrames);
    expect(await metric(server, 'p3_gateway_backpressure_total{action="caught_up"}')).toBe(1);
    slow.close();
    fast.close();
  }, 30_000);

  it('closes a reader whose send buffer passes the hard bound, with the backpressure close code', async () => {
    const server = await start({ softBytes: 290 * 1024, hardBytes: 300 * 1024, resumeBytes: 32 * 1024 });
    const slow = await join(server);
    tcp(slow).pause();
    const closedCount = 'p3_gateway_backpressure_total{action="closed"}';
    // Filling 300 KiB takes a few seconds of frames; on a loaded machine (CI runs files side by side) up to ~12 s.
    for (let i = 0; i < 400 && (await metric(server, closedCount)) < 1; i++)
      await new Promise((r) => setTimeout(r, 50));
    expect(await metric(server, closedCount)).toBe(1);
    tcp(slow).resume();
    expect((await slow.closed(10_000)).code).toBe(CloseCode.Backpressure);
  }, 45_000);
});
