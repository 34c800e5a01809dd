import { afterEach, describe, expect, it } from 'vitest';
import { P3Client, type P3ClientOptions } from '@p3/client';
import { startClockedPeer, type ClockedPeer } from './support/clocked-peer.js';
import { world } from './support/world.js';

const peers: ClockedPeer[] = [];
const clients: P3Client[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.disconnect()));
  await Promise.all(peers.splice(0).map((p) => p.close()));
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Writes `count` updates at uneven spacing (so they fall all over the tick interval) and returns how they arrived. */
async function stampedUpdates(
  peerOptions: { tickRate: number; latencyMs: number },
  options: Partial<P3ClientOptions>,
  count: number,
): Promise<
  Array<{ frame: number; through: number; stamped: boolean; arrivedFrame: number; arrivedTime: number }>
> {
  const peer = await startClockedPeer({ world, ...peerOptions });
  peers.push(peer);
  const p3 = new P3Client({
    host: peer.host,
    port: peer.port,
    instanceId: 'stamps',
    codec: 'json',
    ...options,
  });
  clients.push(p3);
  await p3.connect();
  await sleep(400); // the five quick pings are answered
  const id = p3.createEntity('avatar', { x: 0 });
  for (let i = 1; i <= count; i++) {
    await sleep(61 + ((i * 37) % 50));
    p3.updateEntity(id, { x: i });
  }
  await peer.until((ops) => ops.length === count + 1, 'every update');
  const interval = 1000 / peer.tickRate;
  return peer.ops.slice(1).map((o) => ({
    frame: o.message.ops[0]!.frame ?? o.message.through!,
    through: o.message.through!,
    stamped: o.message.ops[0]!.frame !== undefined,
    arrivedFrame: Math.floor(o.time / interval),
    arrivedTime: o.time,
  }));
}

describe('stamping ops for the frame the room is at when they arrive', () => {
  it('[CLIENT-31] by default ops travel unstamped (the room applies each at its next tick), `through` the frame the client reckons they apply at', async () => {
    const tickRate = 20;
    const interval = 1000 / tickRate;
    const arrived = await stampedUpdates({ tickRate, latencyMs: 15 }, {}, 15);
    for (const a of arrived) {
      expect(a.stamped).toBe(false);
      // The client's own reckoning (its predictions, its cover) is the arrival frame, as 'auto' would stamp it
      // (within 10 ms either way: the clock estimate and the timers drift that much on a loaded CI machine).
      expect(a.through * interval).toBeGreaterThan(a.arrivedTime - 10);
      expect(a.through).toBeLessThanOrEqual(Math.floor((a.arrivedTime + 10) / interval) + 1);
    }
  });

  it("[CLIENT-31] with 'auto' an op is stamped for the first frame the room simulates after it arrives, one-way latency included", async () => {
    const tickRate = 20;
    const interval = 1000 / tickRate;
    // 15 ms on the way up: stamped for the room's frame at sending, an op would often come after it was simulated.
    const arrived = await stampedUpdates({ tickRate, latencyMs: 15 }, { inputDelayFrames: 'auto' }, 15);
    const holds: number[] = [];
    for (const a of arrived) {
      expect(a.stamped).toBe(true);
      // Not late: the room has not simulated that frame yet when the op arrives (give or take the test link's
      // timer jitter: this peer has no frames, so the client cannot learn a margin for it) ...
      expect(a.frame * interval).toBeGreaterThan(a.arrivedTime - 5);
      // ... and not held: it is the next frame the room simulates, unless the op came within a small margin of it.
      expect(a.frame).toBeLessThanOrEqual(Math.floor((a.arrivedTime + 10) / interval) + 1);
      holds.push(a.frame * interval - a.arrivedTime);
    }
    // Ops arrive all over the tick interval: they wait half a tick for it on average, not one or two more.
    expect(holds.reduce((sum, h) => sum + h, 0) / holds.length).toBeLessThan(0.75 * interval);
  });

  it('[CLIENT-31] a fixed inputDelayFrames stamps that many frames after the estimated server frame', async () => {
    const arrived = await stampedUpdates({ tickRate: 20, latencyMs: 0 }, { inputDelayFrames: 3 }, 10);
    const leads = arrived.map((a) => a.frame - a.arrivedFrame);
    // Sent and received within a millisecond: the lead is 3, or 2 when a tick fell in between.
    for (const lead of leads) expect([2, 3]).toContain(lead);
    expect(leads.filter((l) => l === 3).length).toBeGreaterThan(leads.length / 2);
  });

  it("[CLIENT-31] inputDelayFrames is 'arrival', 'auto' or a whole number of frames", () => {
    const make = (inputDelayFrames: unknown) =>
      new P3Client({
        host: '127.0.0.1',
        instanceId: 'x',
        autoConnect: false,
        inputDelayFrames: inputDelayFrames as number,
      });
    expect(() => make(-1)).toThrow(RangeError);
    expect(() => make(1.5)).toThrow(RangeError);
    expect(() => make('soon')).toThrow("inputDelayFrames must be 'arrival', 'auto' or an integer >= 0");
    expect(() => make('auto')).not.toThrow();
    expect(() => make('arrival')).not.toThrow();
    expect(() => make(0)).not.toThrow();
  });
});
