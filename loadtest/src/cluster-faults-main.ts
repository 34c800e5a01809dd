// `npm run cluster:faults [-- --scenarios kill-simulator,partition-simulator --seconds 3 --postgres-down-seconds 30
// --storm-clients 1000]`: the cluster under faults (see cluster-faults.ts). Runs as root (network namespaces,
// iptables) with nats-server, redis-server and Postgres installed; starts servers of its own; stops by itself.
import { parseArgs } from 'node:util';
import { allScenarios, formatFaults, runClusterFaults, type FaultScenario } from './cluster-faults.js';

const { values } = parseArgs({
  options: {
    scenarios: { type: 'string' },
    seconds: { type: 'string' },
    'postgres-down-seconds': { type: 'string' },
    'storm-clients': { type: 'string' },
  },
  strict: true,
});
const scenarios = (values.scenarios?.split(',') ?? [...allScenarios]) as FaultScenario[];
const unknown = scenarios.filter((s) => !(allScenarios as readonly string[]).includes(s));
if (unknown.length > 0) {
  console.error(`unknown scenarios: ${unknown.join(', ')} (known: ${allScenarios.join(', ')})`);
  process.exit(2);
}
const number = (flag: string, value: string | undefined, fallback: number): number => {
  const parsed = value === undefined ? fallback : Number(value);
  if (!Number.isFinite(parsed) || parsed < 0) {
    console.error(`--${flag} must be a non-negative number, got ${value}`);
    process.exit(2);
  }
  return parsed;
};
setTimeout(() => {
  console.error('cluster:faults: no result after 20 minutes, giving up');
  process.exit(3);
}, 1_200_000).unref();
const report = await runClusterFaults(scenarios, {
  loadSeconds: number('seconds', values.seconds, 3),
  postgresDownSeconds: number('postgres-down-seconds', values['postgres-down-seconds'], 30),
  stormClients: number('storm-clients', values['storm-clients'], 1000),
  log: (line) => console.error(line),
});
console.log(formatFaults(report));
process.exit(
  report.results.every((r) => r.lostAcked === 0 && r.splitBrain === 0 && r.crashes === 0 && r.converged)
    ? 0
    : 1,
);
