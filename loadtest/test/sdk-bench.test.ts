import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runArenaBench } from '../src/arena-runner.js';
import { defaultSdkBenchOptions, sdkBenchKinds } from '../src/sdk-bench-options.js';
import { formatSdkJsonLine, formatSdkReport, summarizeSdkRounds } from '../src/sdk-bench-report.js';

// End to end on real processes: the P3 SDK against P3 with its room log, Colyseus's SDK against Colyseus, and the
// raw floor, with the same tiny load over two load processes. Figures are checked for sanity only (timings are
// compared in the bench's report, never asserted here).
describe('sdk benchmark', () => {
  it('drives the P3 SDK, Colyseus with its SDK and the raw floor with one tiny load, every client hearing every peer', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'p3-sdk-bench-test-'));
    try {
      const round = await runArenaBench(
        { ...defaultSdkBenchOptions, rooms: 2, clients: 3, seconds: 2, warmup: 1, rounds: 1, dataDir },
        () => undefined,
        0,
        sdkBenchKinds,
      );

      expect(round.loadProcesses).toBe(2);
      expect(round.results.map((r) => r.kind).sort()).toEqual(['colyseus', 'p3-sdk', 'raw']);
      for (const r of round.results) {
        const { load } = r;
        expect(load.connections).toBe(6);
        expect(load.sentPerSecond).toBeGreaterThan(0);
        expect(load.updatesPerSecond).toBeGreaterThan(0);
        // Bytes are counted for the SDKs too (through the counting global WebSocket).
        expect(load.bytesPerClientPerSecond).toBeGreaterThan(0);
        expect(load.receivedMessages).toBeGreaterThan(0);
        expect(load.pairsSeen).toBe(load.pairsExpected);
        expect(load.pairsExpected).toBe(2 * 3 * 2);
        expect(load.latencyMs.count).toBe(load.updates);
        expect(load.latencyMs.p50).toBeGreaterThan(0);
        expect(load.latencyMs.p99).toBeGreaterThanOrEqual(load.latencyMs.p50);
        expect([load.rejects, load.errors, load.decodeErrors, load.unexpectedCloses]).toEqual([0, 0, 0, 0]);
        expect(load.heapAllocatedBytes).toBeGreaterThan(0);
        expect(r.loadCpuPercentPerClient).toBeCloseTo(r.loadCpuPercent / 6, 9);
        expect(r.windowSeconds).toBeGreaterThan(1.5);
      }
      // The SDKs echo a client's own entity back to it (not counted as delivered); the floor does not.
      const of = (kind: string) => round.results.find((r) => r.kind === kind)!;
      expect(of('p3-sdk').load.selfUpdatesPerSecond).toBeGreaterThan(0);
      expect(of('colyseus').load.selfUpdatesPerSecond).toBeGreaterThan(0);
      expect(of('p3-sdk').serverTickWorkP99Ms).toBeGreaterThan(0);

      const summary = summarizeSdkRounds([round]);
      expect(summary.median.p3LatencyP99Ms).toBe(of('p3-sdk').load.latencyMs.p99);
      expect(summary.median.colyseusBytesPerClientPerSecond).toBe(
        of('colyseus').load.bytesPerClientPerSecond,
      );
      for (const verdict of Object.values(summary.verdicts)) expect(typeof verdict).toBe('boolean');
      const text = formatSdkReport(summary);
      expect(text).toMatch(/^ +P3 SDK +Colyseus +raw uWS$/m);
      expect(text).toMatch(/^latency p99: P3 SDK .* (met|MISSED)/m);
      expect(JSON.parse(formatSdkJsonLine(summary))).toMatchObject({
        bench: 'sdk',
        summary: { representative: 0 },
      });
      // A round where a server fell behind (under 90 % of the offered updates delivered) leaves the medians.
      const stalled: typeof round = {
        ...round,
        results: round.results.map((r) =>
          r.kind === 'colyseus'
            ? { ...r, load: { ...r.load, updatesPerSecond: r.load.updatesPerSecond / 2 } }
            : r,
        ),
      };
      const three = summarizeSdkRounds([round, stalled, round]);
      expect(three.figures[1]!.broken).toMatch(/^colyseus delivered \d+ % of the offered updates/);
      expect(three.median.colyseusLatencyP99Ms).toBe(of('colyseus').load.latencyMs.p99);
      expect(formatSdkReport(three)).toContain('round 2 left out of the medians: colyseus delivered');
      // P3's data directory of the run was removed.
      expect(await readdir(dataDir)).toEqual([]);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 180_000);
});
