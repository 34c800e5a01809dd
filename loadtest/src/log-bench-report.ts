import type { LogBenchResult, LogRunResult } from './log-bench-runner.js';

const fmt = (n: number, digits = 0): string =>
  Number.isFinite(n)
    ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : '-';

/** The log bench's table: group commit and the baseline side by side, then the ratio of their syncs. */
export function formatLogBenchReport(result: LogBenchResult): string {
  const { options: o, groupCommit, baseline } = result;
  const rows: Array<[string, (r: LogRunResult) => string]> = [
    ['commitIntervalMs', (r) => fmt(r.commitIntervalMs)],
    ['window (s)', (r) => fmt(r.windowSeconds, 1)],
    [`appends / s (offered ${fmt(o.rooms * o.hz)})`, (r) => fmt(r.appendsPerSecond)],
    ['fdatasync calls / s', (r) => fmt(r.syncsPerSecond, 1)],
    ['records / sync', (r) => fmt(r.recordsPerSync, 1)],
    ['bytes / record (on disk)', (r) => fmt(r.bytesPerRecord)],
    ['MB / s written', (r) => fmt(r.bytesPerSecond / 2 ** 20, 2)],
    ['append to durable p50 (ms)', (r) => fmt(r.latencyMs.p50, 2)],
    ['append to durable p99 (ms)', (r) => fmt(r.latencyMs.p99, 2)],
    ['append to durable max (ms)', (r) => fmt(r.latencyMs.max, 2)],
    ['process CPU (% of one core)', (r) => fmt(r.cpuPercent, 1)],
    ['failed / unresolved appends', (r) => `${r.failed}/${r.unresolved}`],
  ];
  const label = 34;
  const col = 16;
  return [
    `log bench: ${o.rooms} rooms x 1 record at ${o.hz} Hz into one FileRoomLog, ${o.warmup} s warm-up, ` +
      `${o.seconds} s window each`,
    '',
    ''.padEnd(label) + 'group commit'.padStart(col) + 'baseline'.padStart(col),
    ...rows.map(
      ([name, value]) =>
        name.padEnd(label) + value(groupCommit).padStart(col) + value(baseline).padStart(col),
    ),
    '',
    `group commit: ${fmt(groupCommit.syncsPerSecond, 1)} syncs/s for ${fmt(groupCommit.appendsPerSecond)} appends/s; ` +
      `the baseline (a sync as soon as the previous one ends) made ${fmt(result.syncRatio, 2)}x as many syncs`,
  ].join('\n');
}

/** The machine-readable line, unrounded. */
export function formatLogBenchJsonLine(result: LogBenchResult): string {
  return JSON.stringify({ bench: 'log', ...result });
}
