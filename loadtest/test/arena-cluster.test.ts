import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runArenaBench } from '../src/arena-runner.js';
import { defaultArenaOptions } from '../src/bench-options.js';
import { repoRoot } from '../src/ts-process.js';

const cache = join(repoRoot, 'node_modules', '.cache');
const clusterBuilds = async (): Promise<string[]> =>
  (await readdir(cache).catch(() => [] as string[])).filter((name) => name.startsWith('p3-arena-cluster-'));

// End to end on real processes: the build's 2 gateways, 2 simulators and persister against the local NATS, Redis and
// Postgres, with a tiny load over two load processes whose clients split over both gateways. Figures are checked
// for sanity only (timings are compared in the benchmark's report, never asserted here).
describe('arena benchmark against the cluster', () => {
  it('splits every room over both gateways, every client hearing every peer, and measures the cluster', async () => {
    const before = await clusterBuilds();
    const bench = await runArenaBench({
      ...defaultArenaOptions,
      rooms: 2,
      clients: 4,
      seconds: 2,
      warmup: 1,
      target: 'p3-cluster',
      loadProcs: 2,
    });

    expect(bench.results.map((r) => r.kind)).toEqual(['p3-cluster']);
    const [r] = bench.results as [(typeof bench.results)[number]];
    const { load } = r;
    expect(load.connections).toBe(8);
    expect(load.pairsSeen).toBe(load.pairsExpected);
    expect(load.pairsExpected).toBe(2 * 4 * 3);
    expect(load.latencyMs.count).toBe(load.updates);
    expect(load.latencyMs.p50).toBeGreaterThan(0);
    expect([load.rejects, load.errors, load.decodeErrors, load.unexpectedCloses]).toEqual([0, 0, 0, 0]);
    // Acks come back through the bus once the JetStream log holds the ops.
    expect(load.acksAwaited).toBeGreaterThan(0);
    expect(load.ackLatencyMs.count).toBe(load.acksAwaited);
    expect(r.serverTickWorkP99Ms).toBeGreaterThan(0);
    expect(r.serverLogAppendP99Ms).toBeGreaterThan(0);
    expect(r.serverCpuPercent).toBeGreaterThan(0);
    expect(r.cpuMicrosPerUpdate).toBeGreaterThan(0);

    const cluster = r.cluster!;
    expect(cluster.processes.map((p) => p.name)).toEqual([
      'gateway-1',
      'gateway-2',
      'simulator-1',
      'simulator-2',
      'persister-1',
    ]);
    expect(cluster.processes.reduce((total, p) => total + p.cpuPercent, 0)).toBeCloseTo(
      r.serverCpuPercent,
      6,
    );
    expect(cluster.cpuMicrosPerUpdateWithServices).toBeGreaterThanOrEqual(r.cpuMicrosPerUpdate);
    // Half of every room on each gateway: 2 clients of each of the 2 rooms.
    expect(cluster.gateways.map((g) => [g.name, g.connections, g.roomsServed])).toEqual([
      ['gateway-1', 4, 2],
      ['gateway-2', 4, 2],
    ]);
    for (const g of cluster.gateways) {
      expect(g.outputMessagesPerSecond).toBeGreaterThan(0);
      expect(g.outputBytesPerSecond).toBeGreaterThan(0);
      expect(g.inputBatchesPerSecond).toBeGreaterThan(0);
    }
    // Alone (no `p3` in the round) there is no NATS hop to derive.
    expect(bench.derived.natsHopLatencyP50Ms).toBeUndefined();
    expect(typeof bench.derived.p3ClusterMeetsLatency).toBe('boolean');
    // The round built the cluster for itself and removed the build afterwards.
    expect(await clusterBuilds()).toEqual(before);
  }, 180_000);
});
