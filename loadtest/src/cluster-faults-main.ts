// `npm run cluster:faults [-- --scenarios kill-simulator,partition-simulator --seconds 3 --postgres-down-seconds 30
// --storm-clients 1000]`: the cluster under faults (see cluster-faults.ts). Runs as root (network namespaces,
// iptables) with nats-server, redis-server and Postgres installed; starts servers of its own; stops by itself.
import { parseArgs } from 'node:util';
import { parseCli, usageText } from './cli-usage.js';
import { allScenarios, formatFaults, runClusterFaults, type FaultScenario } from './cluster-faults.js';

/** The defaults, named once for the parser and the usage text. */
const defaults = { seconds: 3, postgresDownSeconds: 30, stormClients: 1000 } as const;
const usage = usageText(
  'npm run cluster:faults -- [flags]',
  'The cluster under faults: for each scenario, lost acknowledged writes, split brain, failover time, crashes\n' +
    'and convergence. Runs as root (network namespaces, iptables) with nats-server, redis-server and Postgres\n' +
    'installed; starts servers of its own. Exits 1 if any scenario lost data, split, crashed or did not converge.',
  [
    ['--scenarios NAME[,...]', `scenarios to run (default all): ${allScenarios.join(', ')}`],
    ['--seconds S', `seconds of load around each fault (default ${defaults.seconds})`],
    [
      '--postgres-down-seconds S',
      `how long postgres-down keeps Postgres away (default ${defaults.postgresDownSeconds})`,
    ],
    ['--storm-clients N', `clients of connect-storm (default ${defaults.stormClients})`],
    ['-h, --help', 'print this text'],
  ],
);
const { scenarios, loadSeconds, postgresDownSeconds, stormClients } = parseCli(usage, () => {
  const { values } = parseArgs({
    options: {
      scenarios: { type: 'string' },
      seconds: { type: 'string' },
      'postgres-down-seconds': { type: 'string' },
      'storm-clients': { type: 'string' },
    },
    strict: true,
  });
  const problems: string[] = [];
  const scenarios = (values.scenarios?.split(',') ?? [...allScenarios]) as FaultScenario[];
  const unknown = scenarios.filter((s) => !(allScenarios as readonly string[]).includes(s));
  if (unknown.length > 0)
    problems.push(`unknown scenarios: ${unknown.join(', ')} (known: ${allScenarios.join(', ')})`);
  const number = (flag: string, value: string | undefined, fallback: number): number => {
    const parsed = value === undefined ? fallback : Number(value);
    if (!Number.isFinite(parsed) || parsed < 0) {
      problems.push(`--${flag} must be a non-negative number, got ${value}`);
      return fallback;
    }
    return parsed;
  };
  const parsed = {
    scenarios,
    loadSeconds: number('seconds', values.seconds, defaults.seconds),
    postgresDownSeconds: number(
      'postgres-down-seconds',
      values['postgres-down-seconds'],
      defaults.postgresDownSeconds,
    ),
    stormClients: number('storm-clients', values['storm-clients'], defaults.stormClients),
  };
  if (problems.length > 0) throw new Error(`bad arguments: ${problems.join('; ')}`);
  return parsed;
});
setTimeout(() => {
  console.error('cluster:faults: no result after 20 minutes, giving up');
  process.exit(3);
}, 1_200_000).unref();
const report = await runClusterFaults(scenarios, {
  loadSeconds,
  postgresDownSeconds,
  stormClients,
  log: (line) => console.error(line),
});
console.log(formatFaults(report));
process.exit(
  report.results.every((r) => r.lostAcked === 0 && r.splitBrain === 0 && r.crashes === 0 && r.converged)
    ? 0
    : 1,
);
