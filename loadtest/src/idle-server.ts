// The server of the idle benchmark, in its own process: a P3Server with in-memory storage hosting the arena
// bench world, sized for the idle load (every room and member the load opens fits under the limits: the defaults,
// 1000 rooms and 500 members per room, would refuse 10,000 clients in 10 rooms). Prints `{"port": N, "pid": N}` on
// stdout once listening; stops with its parent, on SIGTERM, or after --lifetime seconds.
import { defineWorld } from '@p3/engine';
import { P3Server } from '@p3/server';
import { simulatorConfigFromEnv } from '@p3/simulator';
import { parseArgs } from 'node:util';
import { arenaBenchSchema } from './arena-schema.js';
import { intFlag, numberFlag } from './bench-options.js';
import { emitLine, stopWithParent } from './child-lifetime.js';

const { values } = parseArgs({
  options: {
    lifetime: { type: 'string' },
    'tick-rate': { type: 'string' },
    rooms: { type: 'string' },
    clients: { type: 'string' },
  },
  strict: true,
});
const problems: string[] = [];
const lifetimeSeconds = numberFlag(values.lifetime, 'lifetime', 300, 1, 86_400, problems);
const tickRate = intFlag(values['tick-rate'], 'tick-rate', 30, 1, 240, problems);
const rooms = intFlag(values.rooms, 'rooms', 50, 1, 100_000, problems);
const clients = intFlag(values.clients, 'clients', 100, 1, 1_000_000, problems);
if (problems.length > 0) throw new Error(problems.join('; '));

// Other settings come from the environment, as `npm start` reads them (e.g. P3_IDLE_HEARTBEAT_MS).
const fromEnv = simulatorConfigFromEnv(process.env);
const server = new P3Server({
  host: '127.0.0.1',
  port: 0,
  tickRate,
  storage: 'memory',
  durability: 'snapshot',
  logLevel: 'silent',
  world: defineWorld({ schema: arenaBenchSchema }),
  simulator: {
    ...fromEnv,
    tickRate,
    // 0 is "no limit" (kept); the default instance is one more room.
    maxRooms: fromEnv.maxRooms === 0 ? 0 : Math.max(fromEnv.maxRooms, rooms + 1),
    maxMembersPerRoom: fromEnv.maxMembersPerRoom === 0 ? 0 : Math.max(fromEnv.maxMembersPerRoom, clients),
  },
});
await server.listen();
emitLine({ port: server.port, pid: process.pid });
stopWithParent(lifetimeSeconds * 1000, () => server.close());
