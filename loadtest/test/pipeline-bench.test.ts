import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { repoRoot, scriptPath } from '../src/ts-process.js';

// The bench checks its own work (every room published its frames, the floor read every update) and throws
// otherwise; this runs a tiny configuration so that it cannot rot. Timings are never asserted.
describe('pipeline benchmark', () => {
  it('pushes a tiny arena workload through the server code and reports per-update CPU for P3 with and without the log and the floor', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        ...['--import', 'tsx', scriptPath('./pipeline-bench.ts')],
        ...['--rooms', '2', '--clients', '3', '--seconds', '1', '--rounds', '1'],
      ],
      { cwd: repoRoot, timeout: 60_000 },
    );
    const report = JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as Record<string, unknown>;
    expect(report).toMatchObject({ bench: 'pipeline', rooms: 2, clients: 3, seconds: 1, tickRate: 30 });
    expect(report.bestP3MicrosPerUpdate).toBeGreaterThan(0);
    expect(report.rawMicrosPerUpdate).toBeGreaterThan(0);
    expect(report.bestP3LogMicrosPerUpdate).toBeGreaterThan(0);
    expect(report.logCostRatio).toBeGreaterThan(0);
    expect(report.logSyncs).toBeGreaterThan(0);
    expect(report.logRecordsPerSync).toBeGreaterThanOrEqual(1);
  });
});
