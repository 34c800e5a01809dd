import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultArenaOptions } from '../src/bench-options.js';
import { runArenaBench } from '../src/arena-runner.js';

// End to end on real processes: P3 with its room log, P3 without, P3 driven by its SDK, the raw uWS floor, two load
// processes. Figures
// are checked for sanity only: timings depend on the machine and are compared in the benchmark's report, never
// asserted here.
describe('arena benchmark', () => {
  it('measures P3 with and without the log, P3 through its SDK and the raw floor with the same tiny load split over two load processes, every client hearing every peer', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'p3-arena-test-'));
    try {
      // 3 rooms over 2 processes: rooms 0-1 and room 2, so the second process runs at a room offset.
      const bench = await runArenaBench({
        ...defaultArenaOptions,
        rooms: 3,
        clients: 3,
        seconds: 2,
        warmup: 1,
        target: 'all',
        loadProcs: 2,
        dataDir,
      });

      expect(bench.loadProcesses).toBe(2);
      expect(bench.results.map((r) => r.kind)).toEqual(['p3', 'p3-nolog', 'p3-sdk', 'raw']);
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
      const [p3, p3NoLog, p3Sdk, raw] = bench.results as [
        (typeof bench.results)[number],
        (typeof bench.results)[number],
        (typeof bench.results)[number],
        (typeof bench.results)[number],
      ];
      for (const r of [p3, p3NoLog]) {
        // P3 acknowledges the ops messages (batched) and echoes a member's own bot in the frames; the floor does
        // neither. Every send of the window was acked (the load waits for the acks after the window).
        expect(r.load.acks).toBeGreaterThan(0);
        expect(r.load.selfUpdatesPerSecond).toBeGreaterThan(0);
        expect(r.load.acksAwaited).toBeGreaterThan(0);
        expect(r.load.ackLatencyMs.count).toBe(r.load.acksAwaited);
        expect(r.load.ackLatencyMs.p99).toBeGreaterThanOrEqual(r.load.ackLatencyMs.p50);
        expect(r.serverTickWorkP99Ms).toBeGreaterThan(0);
      }
      // The SDK keeps its acks to itself (no ack latency), echoes its own bot, and runs against P3 with the log.
      expect(p3Sdk.load.acksAwaited).toBe(0);
      expect(p3Sdk.load.selfUpdatesPerSecond).toBeGreaterThan(0);
      expect(p3Sdk.logSyncsPerSecond).toBeGreaterThan(0);
      expect(bench.derived.p3SdkCpuPerUpdateRatio).toBeGreaterThan(0);
      expect(raw.load.acksAwaited).toBe(0);
      expect(raw.load.ackLatencyMs.count).toBe(0);
      // Only P3 with the log has log figures: records every tick in each room, several per sync at most.
      expect(p3.serverLogAppendP99Ms).toBeGreaterThan(0);
      expect(p3.serverLogAppendMeanMs).toBeGreaterThan(0);
      expect(p3.logSyncsPerSecond).toBeGreaterThan(0);
      expect(p3.logRecordsPerSync).toBeGreaterThanOrEqual(1);
      expect(p3.logRecordsPerSecond).toBeGreaterThan(0);
      for (const r of [p3NoLog, raw]) {
        expect([r.serverLogAppendP99Ms, r.logSyncsPerSecond, r.logRecordsPerSync]).toEqual([
          undefined,
          undefined,
          undefined,
        ]);
      }
      expect(bench.derived.logCpuCostRatio).toBeGreaterThan(0);
      expect(bench.derived.cpuPerUpdateRatio).toBeGreaterThan(0);
      expect(bench.derived.p3NoLogCpuPerUpdateRatio).toBeGreaterThan(0);
      expect(bench.derived.p99TargetMs).toBeCloseTo(1000 / 30 + 5);
      // The log's data directory of the run was removed.
      expect(await readdir(dataDir)).toEqual([]);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 180_000);
});
