import { afterEach, describe, expect, it } from 'vitest';
import { P3Client } from '@p3/client';
import { ErrorCode, PROTOCOL_VERSION } from '@p3/protocol';
import { P3Server } from '@p3/server';
import { RawClient, until } from '@p3/test-support';

const rooms = 2;
const clientsPerRoom = 25;
const updatesPerSecond = 20;
const tickRate = 30;

const servers: P3Server[] = [];
const clients: P3Client[] = [];
const raw: RawClient[] = [];

afterEach(async () => {
  for (const c of raw.splice(0)) c.close();
  await Promise.all(clients.splice(0).map((c) => c.disconnect()));
  for (const s of servers.splice(0)) await s.close();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The simulator's op counters from the server's /metrics endpoint. */
async function opCounts(port: number): Promise<{ ops: number; resimulated: number; dropped: number }> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const value = (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? Number.NaN);
  return {
    ops: value(/^p3_simulator_ops_total (\S+)$/m),
    resimulated: value(/^p3_simulator_ops_late_total\{outcome="resimulated"\} (\S+)$/m),
    dropped: value(/^p3_simulator_ops_late_total\{outcome="dropped"\} (\S+)$/m),
  };
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

describe('SDK defaults under arena-like load', () => {
  it('[CLIENT-31] the simulator counts client ops, and those that came after their frame: re-simulated or dropped', async () => {
    const server = new P3Server({
      port: 0,
      host: '127.0.0.1',
      tickRate,
      bufferFrame: 10,
      instanceId: 'counted',
      storage: 'memory',
      logLevel: 'silent',
    });
    server.createEntityType('bot', {
      connectionBound: true,
      fields: { x: { dataType: 'number', min: 0, max: 1000, accessControl: 'client' } },
    });
    servers.push(await server.listen());
    const before = await opCounts(server.port);
    expect(before).toEqual({ ops: 0, resimulated: 0, dropped: 0 });
    const client = await RawClient.open(`ws://127.0.0.1:${server.port}/v1/connect`, 'json');
    raw.push(client);
    client.send({
      type: 'join',
      protocolVersion: PROTOCOL_VERSION,
      room: 'counted',
      clientId: 'c',
      sessionStamp: 1,
    });
    await client.next('welcome');
    const id = '0190d7a0-0000-7000-8000-0000000000c1';
    const room = await server.instance('counted');
    client.send({
      type: 'ops',
      stamp: 1,
      seq: 1,
      ops: [{ op: 'create', entityId: id, typeName: 'bot', data: {} }],
    });
    await until(() => room.world.entity(id) !== undefined && room.world.frame > 20);
    const now = room.world.frame;
    // For a frame ahead (on time even if a loaded machine stalls for 20 frames), for the frame just simulated
    // (late: re-simulated), and for a frame out of the window (dropped).
    client.send({
      type: 'ops',
      stamp: 1,
      seq: 2,
      ops: [
        { op: 'update', entityId: id, data: { x: 1 }, frame: now + 20 },
        { op: 'update', entityId: id, data: { x: 2 }, frame: now },
        { op: 'update', entityId: id, data: { x: 3 }, frame: Math.max(1, now - 15) },
      ],
    });
    expect((await client.next('reject', (r) => r.seq === 4)).code).toBe(ErrorCode.FrameDropped);
    expect(await opCounts(server.port)).toEqual({ ops: 4, resimulated: 1, dropped: 1 });
  });

  it('[CLIENT-31] [CLIENT-30] 50 SDK clients at defaults sending 20 updates a second: ops arrive in time and reach the others within a tick', async () => {
    const server = new P3Server({
      port: 0,
      host: '127.0.0.1',
      tickRate,
      bufferFrame: 20,
      instanceId: 'lateness-0',
      storage: 'memory',
      logLevel: 'silent',
    });
    server.createEntityType('bot', {
      connectionBound: true,
      fields: {
        x: { dataType: 'number', min: 0, max: 1000, accessControl: 'client' },
        y: { dataType: 'number', min: 0, max: 1000, accessControl: 'client' },
        t: { dataType: 'number', accessControl: 'client' },
      },
    });
    servers.push(await server.listen());

    // A user's code: the SDK at its defaults (only the room set), one bot per client, updated 20 times a second.
    const latencies: number[] = [];
    let measuring = false;
    let written = 0;
    const bots: Array<{ p3: P3Client; id: string }> = [];
    for (let r = 0; r < rooms; r++) {
      for (let c = 0; c < clientsPerRoom; c++) {
        const p3 = new P3Client({ host: '127.0.0.1', port: server.port, instanceId: `lateness-${r}` });
        clients.push(p3);
        bots.push({ p3, id: '' });
      }
    }
    await Promise.all(clients.map((p3) => p3.connect()));
    const mine = new Set<string>();
    for (const bot of bots) {
      bot.id = bot.p3.createEntity('bot', { x: 0, y: 0, t: performance.now() });
      mine.add(bot.id);
    }
    for (const { p3, id } of bots) {
      p3.on('frame', (frame) => {
        if (!measuring) return;
        const now = performance.now();
        for (const e of frame.entities) {
          const t = e.fields?.t;
          if (e.id !== id && typeof t === 'number' && mine.has(e.id)) latencies.push(now - t);
        }
      });
    }
    // Every client on its own 50 ms timer, started at a random point of the interval.
    const timers: Array<ReturnType<typeof setInterval>> = [];
    const start = bots.map(
      ({ p3, id }) =>
        new Promise<void>((resolve) =>
          setTimeout(
            () => {
              timers.push(
                setInterval(() => {
                  const now = performance.now();
                  p3.updateEntity(id, { x: (now / 10) % 1000, y: (now / 7) % 1000, t: now });
                  if (measuring) written++;
                }, 1000 / updatesPerSecond),
              );
              resolve();
            },
            Math.random() * (1000 / updatesPerSecond),
          ),
        ),
    );
    try {
      await Promise.all(start);
      await sleep(2000); // clock sync converged, margins learnt
      const before = await opCounts(server.port);
      measuring = true;
      await sleep(5000);
      measuring = false;
      const after = await opCounts(server.port);
      const ops = after.ops - before.ops;
      const late = after.resimulated - before.resimulated + (after.dropped - before.dropped);
      latencies.sort((a, b) => a - b);
      const p50 = percentile(latencies, 0.5);
      const p99 = percentile(latencies, 0.99);
      console.log(
        `SDK defaults, ${rooms * clientsPerRoom} clients x ${updatesPerSecond}/s, ${tickRate} Hz: ${ops} ops, ` +
          `${late} late (${((100 * late) / ops).toFixed(2)}%: ${after.resimulated - before.resimulated} re-simulated, ` +
          `${after.dropped - before.dropped} dropped); update latency p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms`,
      );
      // Every write reached the room (a loaded machine fires fewer timer ticks than 20 a second: writes are counted).
      expect(written).toBeGreaterThan(rooms * clientsPerRoom * updatesPerSecond * 5 * 0.5);
      expect(ops).toBeGreaterThan(written * 0.9);
      // The target is under 1% (the bench measures it at 250 clients); a loaded shared test machine gets slack.
      expect(late / ops).toBeLessThan(0.05);
      // Sent at once and stamped for the next tick after arrival: half a tick on average, not two ticks and a send
      // interval more (a fixed input delay of 2 frames and a 50 ms batching wait made this about 90 ms).
      expect(p50).toBeLessThan(1000 / tickRate + 15);
    } finally {
      for (const timer of timers) clearInterval(timer);
    }
  });
});
