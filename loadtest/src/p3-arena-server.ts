// The P3 side of the arena benchmark, in its own process: a P3Server (gateway + simulator, in-memory storage)
// hosting the bench world. Prints `{"port": N}` on stdout once listening; stops with its parent, on SIGTERM, or
// after --lifetime seconds. Run it under `node --cpu-prof` to profile (the orchestrator's --cpu-prof does so).
import { defineWorld } from '@p3/engine';
import { P3Server } from '@p3/server';
import { parseArgs } from 'node:util';
import { arenaBenchSchema } from './arena-schema.js';
import { emitLine, stopWithParent } from './child-lifetime.js';
import { intFlag, numberFlag } from './bench-options.js';

const { values } = parseArgs({
  options: { lifetime: { type: 'string' }, 'tick-rate': { type: 'string' } },
  strict: true,
});
const problems: string[] = [];
const lifetimeSeconds = numberFlag(values.lifetime, 'lifetime', 120, 1, 86_400, problems);
const tickRate = intFlag(values['tick-rate'], 'tick-rate', 30, 1, 240, problems);
if (problems.length > 0) throw new Error(problems.join('; '));

const server = new P3Server({
  host: '127.0.0.1',
  port: 0,
  tickRate,
  storage: 'memory',
  logLevel: 'silent',
  world: defineWorld({ schema: arenaBenchSchema }),
  gateway: {
    // Clients send 20 messages per second; the defaults (120/s) would already do, but the bench must never be
    // throttled by a limit, only by the server's work.
    rateLimit: { messagesPerSecond: 10_000, burst: 20_000, closeAfterDropped: 1_000_000 },
  },
});
await server.listen();
emitLine({ port: server.port, pid: process.pid });
stopWithParent(lifetimeSeconds * 1000, () => server.close());
