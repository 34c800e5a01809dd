// `npm run bench:arena [-- --rooms 20 --clients 25 --seconds 20 --warmup 5 --codec binary|json
// --target p3|p3-cluster|p3-nolog|p3-sdk|raw|default|all[,...] --rounds 3 --data-dir DIR]`
// The arena benchmark: R rooms x C clients moving one bot each at 20 Hz, in separate load processes, against P3
// with its durable room log, P3 without it, and a minimal uWS broadcast server (the floor), with the same load;
// `--target p3-cluster` (alone or in a list: `--target p3,p3-cluster`) also against the cluster of processes.
// Prints a table and a JSON line. Not part of CI; see loadtest/README.md for what each figure means.
import {
  arenaUsageFlags,
  defaultArenaKinds,
  defaultArenaOptions,
  parseArenaOptions,
  serverKinds,
} from './bench-options.js';
import { formatRoundsJsonLine, formatRoundsReport } from './bench-report.js';
import { runArenaRounds } from './arena-rounds.js';
import { parseCli, usageText } from './cli-usage.js';

const usage = usageText(
  'npm run bench:arena -- [flags]',
  'The arena benchmark: R rooms x C clients moving one bot each, in separate load processes, against P3 with and\n' +
    'without its durable room log, P3 driven by its SDK, and a minimal uWS broadcast server (the floor), with the\n' +
    'same load. Prints a table and a JSON line; see loadtest/README.md for what each figure means.',
  arenaUsageFlags(defaultArenaOptions, defaultArenaKinds),
);
const options = parseCli(usage, () => parseArenaOptions(process.argv.slice(2)));
// Everything stops by itself, the orchestrator included.
const limitMs =
  ((options.warmup + options.seconds + 180) * 1000 * serverKinds(options.target).length +
    options.rooms * options.clients * 40) *
  options.rounds;
setTimeout(() => {
  process.stderr.write(`arena bench: no result after ${Math.round(limitMs / 1000)} s, giving up\n`);
  process.exit(3);
}, limitMs).unref();

const result = await runArenaRounds(options, (line) => process.stderr.write(`${line}\n`));
if (!options.jsonOnly) console.log(formatRoundsReport(result));
console.log(formatRoundsJsonLine(result));
