// `npm run bench:idle [-- --rooms 50 --clients 100 --seconds 10 --warmup 3 --codec binary|json --tick-rate 30
// --load-procs 2 --json]`
// The idle benchmark: R rooms x C WebSocket clients that join and then send nothing (raw protocol clients in
// separate load processes), against a P3Server. Reports the server's CPU (% of a core) and the messages and bytes
// each idle client receives per second, with the verdicts of the targets (server <= 10 % of a core, <= 2
// messages per idle client per second). Not part of CI; the smoke test is loadtest/test/idle-bench.test.ts.
import { parseCli, usageText } from './cli-usage.js';
import {
  defaultIdleBenchOptions as d,
  formatIdleJsonLine,
  formatIdleReport,
  parseIdleBenchOptions,
  runIdleBench,
} from './idle-bench-runner.js';

const usage = usageText(
  'npm run bench:idle -- [flags]',
  'The idle benchmark: R rooms x C WebSocket clients that join and then send nothing, against a P3Server.\n' +
    "Reports the server's CPU (% of a core) and the messages and bytes each idle client receives per second,\n" +
    'with the verdicts of the targets (server <= 10 % of a core, <= 2 messages per idle client per second).',
  [
    ['--rooms N', `rooms (default ${d.rooms})`],
    ['--clients N', `idle clients per room (default ${d.clients})`],
    ['--seconds S', `length of the measured window (default ${d.seconds})`],
    ['--warmup S', `seconds between "every client joined" and the window (default ${d.warmup})`],
    ['--codec binary|json', `wire codec of the clients (default ${d.codec})`],
    ['--tick-rate N', `room ticks per second (default ${d.tickRate})`],
    ['--load-procs N', `load processes sharing the rooms (default ${d.loadProcs})`],
    ['--json', 'print only the JSON line, no table'],
    ['-h, --help', 'print this text'],
  ],
);
const options = parseCli(usage, () => parseIdleBenchOptions(process.argv.slice(2)));
// Everything stops by itself, the orchestrator included.
const limitMs = (options.warmup + options.seconds + 180) * 1000 + options.rooms * options.clients * 40;
setTimeout(() => {
  process.stderr.write(`idle bench: no result after ${Math.round(limitMs / 1000)} s, giving up\n`);
  process.exit(3);
}, limitMs).unref();

const result = await runIdleBench(options, (line) => process.stderr.write(`${line}\n`));
if (!options.jsonOnly) console.log(formatIdleReport(result));
console.log(formatIdleJsonLine(result));
