// `npm run bench:sdk [-- --rooms 10 --clients 25 --seconds 20 --warmup 5 --rounds 3 --load-procs 2
// --target default|p3-sdk|colyseus|raw --data-dir DIR --json]`
// Latency and cost as users meet them: R rooms x C clients, each moving one entity {x, y, t} 20 times a second,
// driven by the real P3Client at its defaults against a P3Server with its durable room log (as `npm start` runs),
// and, in the same run with the same load, by Colyseus's own SDK against Colyseus 0.18, plus the raw uWS floor
// (protocol-level clients) for the server-CPU target. Reports latency, the SDKs' CPU per client, their heap
// allocations, bytes received, server CPU per delivered update, and the verdicts on the medians over the
// rounds. Not part of CI; see loadtest/README.md.
import { runArenaRounds } from './arena-rounds.js';
import { arenaUsageFlags, parseArenaOptions } from './bench-options.js';
import { parseCli, usageText } from './cli-usage.js';
import { defaultSdkBenchOptions, sdkBenchKinds, sdkTargetKinds } from './sdk-bench-options.js';
import { formatSdkJsonLine, formatSdkReport, summarizeSdkRounds } from './sdk-bench-report.js';

const usage = usageText(
  'npm run bench:sdk -- [flags]',
  'Latency and cost as users meet them: R rooms x C clients, each moving one entity 20 times a second, driven by\n' +
    "P3's SDK against P3 with its durable room log and, with the same load, by Colyseus's SDK against Colyseus,\n" +
    'plus the raw uWS floor. Reports latency, SDK CPU and allocations per client, bytes received, server CPU per\n' +
    'delivered update and the verdicts on the medians over the rounds; see loadtest/README.md.',
  arenaUsageFlags(defaultSdkBenchOptions, sdkBenchKinds),
);
const options = parseCli(usage, () => parseArenaOptions(process.argv.slice(2), defaultSdkBenchOptions));
const kinds = sdkTargetKinds(options.target);
// Everything stops by itself, the orchestrator included.
const limitMs =
  ((options.warmup + options.seconds + 180) * 1000 * kinds.length + options.rooms * options.clients * 40) *
  options.rounds;
setTimeout(() => {
  process.stderr.write(`sdk bench: no result after ${Math.round(limitMs / 1000)} s, giving up\n`);
  process.exit(3);
}, limitMs).unref();

const { rounds } = await runArenaRounds(options, (line) => process.stderr.write(`${line}\n`), kinds);
const result = summarizeSdkRounds(rounds);
if (!options.jsonOnly) console.log(formatSdkReport(result));
console.log(formatSdkJsonLine(result));
