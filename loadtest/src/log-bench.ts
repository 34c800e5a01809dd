// `npm run bench:log [-- --rooms 1000 --hz 30 --seconds 10 --warmup 1 --commit-interval 10 --data-dir DIR --json]`
// Group commit of the file room log in real time: R rooms each append one step-sized record at --hz (phases spread
// over the tick interval) to one FileRoomLog, then the same load against the baseline `commitIntervalMs: 0`.
// Prints a table and a JSON line; stops by itself. See loadtest/README.md.
import { parseArgs } from 'node:util';
import { DEFAULT_COMMIT_INTERVAL_MS } from '@p3/runtime';
import { intFlag, numberFlag } from './bench-options.js';
import { parseCli, usageText } from './cli-usage.js';
import { formatLogBenchJsonLine, formatLogBenchReport } from './log-bench-report.js';
import { defaultLogBenchOptions, runLogBench, type LogBenchOptions } from './log-bench-runner.js';

const d = defaultLogBenchOptions;
const usage = usageText(
  'npm run bench:log -- [flags]',
  'Group commit of the file room log in real time: R rooms each append one step-sized record at --hz to one\n' +
    'FileRoomLog, then the same load against the baseline commitIntervalMs 0. Prints a table and a JSON line.',
  [
    ['--rooms N', `rooms appending (default ${d.rooms})`],
    ['--hz N', `records per second of each room (default ${d.hz})`],
    ['--seconds S', `length of the measured window (default ${d.seconds})`],
    ['--warmup S', `seconds of full load before the window (default ${d.warmup})`],
    [
      '--commit-interval MS',
      `group commit interval measured (default ${d.commitIntervalMs ?? DEFAULT_COMMIT_INTERVAL_MS}, FileRoomLog's)`,
    ],
    [
      '--data-dir DIR',
      `where each run makes its log directory (default ${d.dataDir ?? 'the OS temp directory'})`,
    ],
    ['--json', 'print only the JSON line, no table'],
    ['-h, --help', 'print this text'],
  ],
);
const { options, jsonOnly } = parseCli(usage, () => {
  const { values } = parseArgs({
    strict: true,
    options: {
      rooms: { type: 'string' },
      hz: { type: 'string' },
      seconds: { type: 'string' },
      warmup: { type: 'string' },
      'commit-interval': { type: 'string' },
      'data-dir': { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  const problems: string[] = [];
  const parsed: LogBenchOptions = {
    rooms: intFlag(values.rooms, 'rooms', d.rooms, 1, 100_000, problems),
    hz: numberFlag(values.hz, 'hz', d.hz, 1, 240, problems),
    seconds: numberFlag(values.seconds, 'seconds', d.seconds, 0.2, 3600, problems),
    warmup: numberFlag(values.warmup, 'warmup', d.warmup, 0, 600, problems),
    commitIntervalMs:
      values['commit-interval'] === undefined
        ? d.commitIntervalMs
        : numberFlag(values['commit-interval'], 'commit-interval', 10, 0, 10_000, problems),
    dataDir: values['data-dir'],
  };
  if (problems.length > 0) throw new Error(`bad arguments: ${problems.join('; ')}`);
  return { options: parsed, jsonOnly: values.json === true };
});

const limitMs = 2 * (options.warmup + options.seconds) * 1000 + 120_000;
setTimeout(() => {
  process.stderr.write(`log bench: no result after ${Math.round(limitMs / 1000)} s, giving up\n`);
  process.exit(3);
}, limitMs).unref();

const result = await runLogBench(options, (line) => process.stderr.write(`${line}\n`));
if (!jsonOnly) console.log(formatLogBenchReport(result));
console.log(formatLogBenchJsonLine(result));
