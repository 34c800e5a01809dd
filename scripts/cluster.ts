// `npm run cluster`: 2 gateways (P3_CLUSTER_BASE_PORT, default 8000, and the next port), 2 simulators and 1 persister
// from the build, each its own OS process, against the local NATS, Redis and Postgres. Prints
// `<service>-<n> pid <pid>` for each once it is ready; Ctrl-C drains and stops them all.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startCluster, stopCluster } from './cluster-processes.js';

const dist = 'dist';
for (const service of ['gateway', 'simulator', 'persister'])
  if (!existsSync(join(dist, `${service}.mjs`))) {
    console.error(`dist/${service}.mjs is missing: run \`npm run build\` first`);
    process.exit(1);
  }
const raw = process.env.P3_CLUSTER_BASE_PORT ?? '8000';
const basePort = Number(raw);
if (!Number.isInteger(basePort) || basePort < 1 || basePort > 65_000) {
  console.error(`P3_CLUSTER_BASE_PORT must be a port number, got ${raw}`);
  process.exit(2);
}
const verbose = process.env.P3_CLUSTER_VERBOSE === 'true';
const processes = await startCluster({
  dist,
  basePort,
  onOutput: (name, line) => {
    if (verbose || /"level":(40|50|60)/.test(line)) console.log(`[${name}] ${line}`);
  },
}).catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
for (const p of processes)
  console.log(
    `${p.name} pid ${p.child.pid} port ${p.port} (ready in ${p.startupMs.toFixed(0)} ms, RSS ${(p.readyRssBytes / 2 ** 20).toFixed(0)} MiB)`,
  );
console.log(
  `cluster up: open http://localhost:${basePort}/ and http://localhost:${basePort + 1}/ (Ctrl-C drains and stops all)`,
);
for (const p of processes)
  void p.exited.then((code) => {
    if (!stopping) console.log(`${p.name} exited (${code})`);
  });

let stopping = false;
const stop = (signal: string) => {
  if (stopping) return;
  stopping = true;
  console.log(`${signal}: draining gateways, then simulators, then the persister`);
  void stopCluster(processes).then(() => {
    console.log('cluster stopped');
    process.exit(0);
  });
};
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));
