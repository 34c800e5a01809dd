// `npm run bench:scale [-- --scenarios idle-sockets,wide-room,nats-per-gateway --sockets 10000 --members 2000
// --senders 4 --rooms 100 --seconds 10 --warmup 3 --send-hz 20 --json]`
// Scale per unit (issue 16), as benchmarks on the build's cluster against the local NATS, Redis and Postgres: idle
// joined sockets on one gateway (RSS per socket; target under 300 MB in all for 10,000), one room spread over two
// gateways (frames per second delivered, p99), NATS messages per gateway when it serves 1 of 100 rooms. Reports
// figures and verdicts; never part of CI (loadtest/test/scale-bench.test.ts is a small smoke run).
import { parseCli, usageText } from './cli-usage.js';
import {
  allScaleScenarios,
  defaultScaleBenchOptions as d,
  parseScaleBenchOptions,
  ScaleScenario,
} from './scale-bench-options.js';
import { formatScaleJsonLine, formatScaleReport } from './scale-bench-report.js';
import { runScaleBench } from './scale-bench-runner.js';
import { natsRoomMembers } from './scale-nats-per-gateway.js';

const usage = usageText(
  'npm run bench:scale -- [flags]',
  "Scale per unit, on the build's cluster against the local NATS, Redis and Postgres: idle joined sockets on one\n" +
    'gateway (RSS per socket), one room spread over two gateways (frames per second delivered, p99), NATS messages\n' +
    'per gateway when it serves 1 of many rooms. Reports figures and verdicts.',
  [
    [
      '--scenarios NAME[,...]',
      `scenarios to run, in order, each on a fresh cluster: ${allScaleScenarios.join(', ')} (default ${d.scenarios.join(',')})`,
    ],
    ['--sockets N', `idle-sockets: joined sockets on one gateway (default ${d.sockets})`],
    ['--members N', `wide-room: members of the one room, half on each gateway (default ${d.members})`],
    ['--senders N', `wide-room: members that send, at most --members (default ${d.senders})`],
    ['--rooms N', `nats-per-gateway: rooms, all but one on gateway-1 (default ${d.rooms})`],
    ['--seconds S', `length of each measured window (default ${d.seconds})`],
    ['--warmup S', `seconds between "everyone joined" and the window (default ${d.warmup})`],
    ['--send-hz N', `updates per second of each sending member (default ${d.sendHz})`],
    ['--json', 'print only the JSON line'],
    ['-h, --help', 'print this text'],
  ],
);
const options = parseCli(usage, () => parseScaleBenchOptions(process.argv.slice(2)));
// Everything stops by itself: per scenario its cluster's start and stop, its joins (40 ms each, twice what a loaded
// machine takes), warm-up and window, with room to spare. The clusters' processes are killed with us
// (arena-cluster.ts), the load processes end when our stdin pipes close.
const joins = (scenario: ScaleScenario): number =>
  scenario === ScaleScenario.IdleSockets
    ? options.sockets
    : scenario === ScaleScenario.WideRoom
      ? options.members
      : options.rooms * natsRoomMembers;
const limitMs =
  60_000 +
  options.scenarios.reduce(
    (total, s) => total + 120_000 + (options.warmup + options.seconds) * 1000 + joins(s) * 40,
    0,
  );
setTimeout(() => {
  process.stderr.write(`scale bench: no result after ${Math.round(limitMs / 1000)} s, giving up\n`);
  process.exit(3);
}, limitMs).unref();

const result = await runScaleBench(options, (line) => process.stderr.write(`${line}\n`));
if (!options.jsonOnly) console.log(`${formatScaleReport(result)}\n`);
console.log(formatScaleJsonLine(result));
// Handles of the run (the NATS client's timers) must not keep the process alive past its result.
process.exit(0);
