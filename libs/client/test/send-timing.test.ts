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

async function connected(
  peerOptions: { tickRate: number; latencyMs?: number },
  options: Partial<P3ClientOptions> = {},
): Promise<{ peer: ClockedPeer; p3: P3Client }> {
  const peer = await startClockedPeer({ world, ...peerOptions });
  peers.push(peer);
  const p3 = new P3Client({
    host: peer.host,
    port: peer.port,
    instanceId: 'timing',
    codec: 'json',
    ...options,
  });
  clients.push(p3);
  await p3.connect();
  return { peer, p3 };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const opsCount = (peer: ClockedPeer) => peer.ops.reduce((n, o) => n + o.message.ops.length, 0);

describe('sending without a batching wait', () => {
  it('[CLIENT-30] an op made on an idle link goes out at once, not at the next send interval', async () => {
    // One batch a second: before, an op waited for the interval timer (up to a second).
    const { peer, p3 } = await connected({ tickRate: 20 }, { sendRate: 1 });
    await sleep(150);
    const sentAt = performance.now();
    p3.createEntity('note', { text: 'now' });
    await peer.until((ops) => ops.length === 1, 'the create');
    expect(peer.ops[0]!.at - sentAt).toBeLessThan(50);
  });

  it('[CLIENT-30] a game writing at the send rate gets each write sent at once, not held for the cap', async () => {
    // A 50 ms timer at sendRate 20: its writes come a fraction of a millisecond early or late.
    const { peer, p3 } = await connected({ tickRate: 20 }, { sendRate: 20 });
    const id = p3.createEntity('avatar', { x: 0 });
    await peer.until((ops) => ops.length === 1, 'the create');
    const written: number[] = [];
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        written.push(performance.now());
        p3.updateEntity(id, { x: written.length });
        if (written.length === 30) {
          clearInterval(timer);
          resolve();
        }
      }, 50);
    });
    await peer.until((_) => opsCount(peer) === 31, 'every write');
    const waits = peer.ops.slice(1).map((o, i) => o.at - written[i]!);
    expect(peer.ops).toHaveLength(31);
    expect(waits.filter((w) => w > 10).length).toBeLessThanOrEqual(2);
  });

  it('[CLIENT-30] a loaded game writing at the send rate, its timer up to 40 ms late, still has each write sent at once', async () => {
    // Writes due every 50 ms at sendRate 20, each 0-40 ms late (a busy event loop): a bucket with too little slack
    // loses the refill of every late write while full, sinks into debt and then holds every write for the cap.
    const { peer, p3 } = await connected({ tickRate: 20 }, { sendRate: 20 });
    const id = p3.createEntity('avatar', { x: 0 });
    await peer.until((ops) => ops.length === 1, 'the create');
    const lateness = [35, 0, 40, 5, 30, 0, 38, 10, 40, 0, 25, 40, 0, 35, 5, 40, 0, 30, 40, 0];
    const start = performance.now() + 20;
    const written: number[] = [];
    await Promise.all(
      lateness.map(
        (late, k) =>
          new Promise<void>((resolve) =>
            setTimeout(
              () => {
                written[k] = performance.now();
                p3.updateEntity(id, { x: k + 1 });
                resolve();
              },
              start + 50 * k + late - performance.now(),
            ),
          ),
      ),
    );
    await peer.until((_) => opsCount(peer) === lateness.length + 1, 'every write');
    const arrivals = peer.ops.slice(1).flatMap((o) => o.message.ops.map(() => o.at));
    const waits = arrivals.map((at, k) => at - written[k]!);
    expect(waits.filter((w) => w > 10).length).toBeLessThanOrEqual(2);
  });

  it('[CLIENT-30] writes made in the same turn travel in one message', async () => {
    const { peer, p3 } = await connected({ tickRate: 20 }, { sendRate: 20 });
    const id = p3.createEntity('avatar', { x: 1 });
    p3.updateEntity(id, { x: 2 });
    p3.setInputState(id, { right: true });
    await peer.until((ops) => ops.length >= 1, 'the batch');
    await sleep(120);
    expect(peer.ops).toHaveLength(1);
    expect(peer.ops[0]!.message.ops.map((op) => op.op)).toEqual(['create', 'update', 'input']);
  });

  it('[CLIENT-30] a stream of writes still goes out in batches at most sendRate a second', async () => {
    const { peer, p3 } = await connected({ tickRate: 20 }, { sendRate: 10 });
    const id = p3.createEntity('avatar', { x: 0 });
    const started = performance.now();
    let x = 0;
    while (performance.now() - started < 1500) {
      p3.updateEntity(id, { x: ++x });
      await sleep(5);
    }
    await peer.until((_) => opsCount(peer) === x + 1, 'every write');
    const arrivals = peer.ops.map((o) => o.at);
    const span = arrivals[arrivals.length - 1]! - arrivals[0]!;
    // The first four go at once (the cap's burst), then one per 100 ms: at most burst + rate x span batches
    // (measured on arrival: the loaded test machine delivers some a few ms late, which shortens the next gap).
    const burst = 4;
    expect(arrivals.length).toBeLessThanOrEqual(burst + Math.floor(span / 100) + 1);
    expect(arrivals.length).toBeGreaterThan(burst + 5);
    expect(arrivals[burst - 1]! - arrivals[0]!).toBeLessThan(60);
    for (let i = burst + 1; i < arrivals.length; i++)
      expect(arrivals[i]! - arrivals[i - 1]!).toBeGreaterThan(85);
    // Sequence numbers stay consecutive across the batches.
    const seqs = peer.ops.flatMap((o) => o.message.ops.map((_, i) => o.message.seq + i));
    seqs.forEach((seq, i) => i === 0 || expect(seq).toBe(seqs[i - 1]! + 1));
  });
});
