// The P3 side of the arena benchmark, in its own process: a P3Server (gateway + simulator) hosting the bench
// world, either with its durable room log (`--storage file --data-dir DIR`: file storage, durability `log`, acks
// wait for the log) or without (`--storage memory`: in-memory storage, no log). Prints `{"port": N}` on stdout
// once listening; stops with its parent, on SIGTERM, or after --lifetime seconds. Run it under `node --cpu-prof`
// to profile (the orchestrator's --cpu-prof does so).
import { defineWorld } from '@p3/engine';
import { P3Server } from '@p3/server';
import { simulatorConfigFromEnv } from '@p3/simulator';
import { parseArgs } from 'node:util';
import { arenaBenchSchema } from './arena-schema.js';
import { emitLine, stopWithParent } from './child-lifetime.js';
import { intFlag, numberFlag, oneOf } from './bench-options.js';

const { values } = parseArgs({
  options: {
    lifetime: { type: 'string' },
    'tick-rate': { type: 'string' },
    storage: { type: 'string' },
    'data-dir': { type: 'string' },
  },
  strict: true,
});
const problems: string[] = [];
const lifetimeSeconds = numberFlag(values.lifetime, 'lifetime', 120, 1, 86_400, problems);
const tickRate = intFlag(values['tick-rate'], 'tick-rate', 30, 1, 240, problems);
const storage = oneOf(values.storage, 'storage', ['memory', 'file'] as const, 'memory', problems);
const dataDir = values['data-dir'];
// The data directory is the orchestrator's to create and remove: never fall back to the server's ./data.
if (storage === 'file' && dataDir === undefined) problems.push('--storage file needs --data-dir');
if (problems.length > 0) throw new Error(problems.join('; '));

const server = new P3Server({
  host: '127.0.0.1',
  port: 0,
  tickRate,
  ...(storage === 'file'
    ? { storage: 'file' as const, dataDir: dataDir as string, durability: 'log' as const }
    : { storage: 'memory' as const, durability: 'snapshot' as const }),
  logLevel: 'silent',
  world: defineWorld({ schema: arenaBenchSchema }),
  // The simulator's and the log's settings come from the environment, like `npm start`'s (e.g. P3_LOG_INTERVAL_MS,
  // P3_LOG_COMMIT_INTERVAL_MS): the bench measures what a user would configure.
  simulator: { ...simulatorConfigFromEnv(process.env), tickRate },
  ...(process.env.P3_LOG_COMMIT_INTERVAL_MS === undefined
    ? {}
    : { logCommitIntervalMs: Number(process.env.P3_LOG_COMMIT_INTERVAL_MS) }),
  gateway: {
    // Clients send 20 messages per second; the defaults (120/s) would already do, but the bench must never be
    // throttled by a limit, only by the server's work.
    rateLimit: { messagesPerSecond: 10_000, burst: 20_000, closeAfterDropped: 1_000_000 },
  },
});
await server.listen();
emitLine({ port: server.port, pid: process.pid });
stopWithParent(lifetimeSeconds * 1000, () => server.close());
