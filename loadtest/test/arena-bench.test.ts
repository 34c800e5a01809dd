import { describe, expect, it } from 'vitest';
import { defaultArenaOptions } from '../src/bench-options.js';
import { runArenaBench } from '../src/arena-runner.js';

// End to end on real processes: P3 server, raw uWS floor, two load processes. Figures are checked for sanity
// only: timings depend on the machine and are compared in the benchmark's report, never asserted here.
describe('arena benchmark', () => {
  it('measures P3 and the raw floor with the same tiny load split over two load processes, every client hearing every peer', async () => {
    // 3 rooms over 2 processes: rooms 0-1 and room 2, so the second process runs at a room offset.
    const bench = await runArenaBench({
      ...defaultArenaOptions,
      rooms: 3,
      clients: 3,
      seconds: 2,
      warmup: 1,
      target: 'both',
      loadProcs: 2,
    });

    expect(bench.loadProcesses).toBe(2);
    expect(bench.results.map((r) => r.kind)).toEqual(['p3', 'raw']);
    for (const r of bench.results) {
      const { load } = r;
      // Merged over both processes.
      expect(load.rooms).toBe(3);
      expect(load.connections).toBe(9);
      // 9 senders at 20 Hz; each update reaches the 2 other members of its room.
      expect(load.sentPerSecond).toBeGreaterThan(0);
      expect(load.updatesPerSecond).toBeGreaterThan(0);
      expect(load.updatesPerSecond).toBeLessThanOrEqual(load.sentPerSecond * 2 * 1.5);
      expect(load.bytesPerClientPerSecond).toBeGreaterThan(0);
      expect(load.pairsSeen).toBe(load.pairsExpected);
      expect(load.pairsExpected).toBe(3 * 3 * 2);
      expect(load.latencyMs.count).toBe(load.updates);
      expect(load.latencyMs.overflow).toBe(0);
      expect(load.latencyMs.p50).toBeGreaterThan(0);
      expect(load.latencyMs.p99).toBeGreaterThanOrEqual(load.latencyMs.p50);
      expect(load.latencyMs.max).toBeGreaterThanOrEqual(load.latencyMs.p99);
      expect([load.rejects, load.errors, load.decodeErrors, load.unexpectedCloses]).toEqual([0, 0, 0, 0]);
      expect(r.serverRssBytes).toBeGreaterThan(0);
      expect(r.serverCpuPercent).toBeGreaterThanOrEqual(0);
      expect(r.loadCpuPercentMax).toBeGreaterThan(0);
      expect(r.loadCpuPercent).toBeGreaterThanOrEqual(r.loadCpuPercentMax);
      expect(r.windowSeconds).toBeGreaterThan(1.5);
    }
    const p3 = bench.results[0]!;
    // P3 acknowledges every ops message and echoes a member's own bot in the frames; the floor does neither.
    expect(p3.load.acks).toBeGreaterThan(0);
    expect(p3.load.selfUpdatesPerSecond).toBeGreaterThan(0);
    expect(bench.derived.p99TargetMs).toBeCloseTo(1000 / 30 + 5);
  }, 120_000);
});
