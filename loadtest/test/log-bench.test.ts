import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_COMMIT_INTERVAL_MS } from '@p3/runtime';
import { formatLogBenchJsonLine, formatLogBenchReport } from '../src/log-bench-report.js';
import { runLogBench } from '../src/log-bench-runner.js';

// A tiny configuration in real time, so that the bench cannot rot. Rates and latencies depend on the disk and are
// never asserted beyond sanity: every append became durable, syncs happened, records were step-sized.
describe('log benchmark', () => {
  it('appends from 20 rooms at 30 Hz to a group-commit log and to the baseline, and removes their directories', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'p3-log-bench-test-'));
    try {
      const result = await runLogBench({
        rooms: 20,
        hz: 30,
        seconds: 1,
        warmup: 0.2,
        commitIntervalMs: undefined,
        dataDir,
      });
      expect(result.groupCommit.commitIntervalMs).toBe(DEFAULT_COMMIT_INTERVAL_MS);
      expect(result.baseline.commitIntervalMs).toBe(0);
      for (const run of [result.groupCommit, result.baseline]) {
        // 600 appends a second offered; timers may run a little late on a busy machine.
        expect(run.appendsPerSecond).toBeGreaterThan(300);
        expect(run.appendsPerSecond).toBeLessThan(700);
        expect(run.syncsPerSecond).toBeGreaterThan(0);
        expect(run.recordsPerSync).toBeGreaterThanOrEqual(1);
        expect(run.bytesPerRecord).toBeGreaterThan(200);
        expect(run.bytesPerRecord).toBeLessThan(450);
        expect(run.latencyMs.count).toBeGreaterThan(0);
        expect(run.latencyMs.p99).toBeGreaterThanOrEqual(run.latencyMs.p50);
        expect([run.failed, run.unresolved]).toEqual([0, 0]);
        expect(run.cpuPercent).toBeGreaterThan(0);
      }
      expect(result.syncRatio).toBeGreaterThan(0);
      expect(formatLogBenchReport(result)).toMatch(/^fdatasync calls \/ s +[\d.,]+ +[\d.,]+$/m);
      expect(JSON.parse(formatLogBenchJsonLine(result))).toMatchObject({
        bench: 'log',
        options: { rooms: 20 },
      });
      expect(await readdir(dataDir)).toEqual([]);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 30_000);
});
