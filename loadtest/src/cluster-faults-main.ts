// `npm run cluster:faults [-- --scenarios kill-simulator,kill-gateway,sigterm-simulator --seconds 3]`: the cluster
// under faults (see cluster-faults.ts). Needs the local NATS, Redis and Postgres; stops by itself.
import { parseArgs } from 'node:util';
import { allScenarios, formatFaults, runClusterFaults, type FaultScenario } from './cluster-faults.js';

const { values } = parseArgs({
  options: { scenarios: { type: 'string' }, seconds: { type: 'string' } },
  strict: true,
});
const scenarios = (values.scenarios?.split(',') ?? [...allScenarios]) as FaultScenario[];
const unknown = scenarios.filter((s) => !allScenarios.includes(s));
if (unknown.length > 0) {
  console.error(`unknown scenarios: ${unknown.join(', ')} (known: ${allScenarios.join(', ')})`);
  process.exit(2);
}
const seconds = values.seconds === undefined ? 3 : Number(values.seconds);
setTimeout(() => {
  console.error('cluster:faults: no result after 10 minutes, giving up');
  process.exit(3);
}, 600_000).unref();
const report = await runClusterFaults(scenarios, {
  loadSeconds: seconds,
  log: (line) => console.error(line),
});
console.log(formatFaults(report));
process.exit(report.results.every((r) => r.lostAcked === 0 && r.splitBrain === 0) ? 0 : 1);
