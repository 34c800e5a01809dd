// One load process of the wide-room and nats-per-gateway scale scenarios (never inside a cluster process): the
// member groups of --plan (JSON, see scale-load-plan.ts), each on one gateway, listeners and a few senders moving
// one bot each at --send-hz. The orchestrator drives it with JSON lines on stdin (load-run.ts: ready once every
// member is welcomed, start, the window, then the summary). Stops by itself: after the run, with its parent (stdin
// ends), or after --lifetime seconds.
import { parseArgs } from 'node:util';
import { ArenaConnection, type ArenaLoadContext } from './arena-connection.js';
import { Codec, numberFlag, Target } from './bench-options.js';
import { LoadRun } from './load-run.js';
import { ScaleCounts, type ScaleLoadSummary } from './scale-counts.js';
import { isScaleLoadPlan, scaleRoomName, type ScaleLoadPlan } from './scale-load-plan.js';

const { values } = parseArgs({
  strict: true,
  options: {
    plan: { type: 'string' },
    'send-hz': { type: 'string' },
    lifetime: { type: 'string' },
  },
});
const problems: string[] = [];
const sendHz = numberFlag(values['send-hz'], 'send-hz', 20, 1, 240, problems);
const lifetime = numberFlag(values.lifetime, 'lifetime', 600, 1, 86_400, problems);
let parsed: unknown;
try {
  parsed = JSON.parse(values.plan ?? '');
} catch {
  parsed = undefined;
}
if (!isScaleLoadPlan(parsed)) problems.push('--plan must be a ScaleLoadPlan as JSON (scale-load-plan.ts)');
if (problems.length > 0 || !isScaleLoadPlan(parsed)) throw new Error(`bad arguments: ${problems.join('; ')}`);
const plan: ScaleLoadPlan = parsed;

// Member indexes are this process's own (the counts' slots); bot ids are random all the same, so the other load
// process's never collide with them.
const members: ArenaConnection[] = [];
const counts = new ScaleCounts(members);
const senders = new Map<string, number>();
const urlOf: string[] = [];
for (const group of plan.groups) {
  const ctx: ArenaLoadContext = {
    target: Target.P3Cluster,
    codec: Codec.Binary,
    baseUrl: group.url,
    clientsPerRoom: group.members,
    roomName: (room) => scaleRoomName(plan.runId, room),
    senders,
    stats: counts,
  };
  for (let room = group.roomOffset; room < group.roomOffset + group.rooms; room++)
    for (let i = 0; i < group.members; i++) {
      const sends = i < group.senders;
      const member = new ArenaConnection(members.length, room, ctx, sends ? 'sender' : 'listener');
      if (sends) senders.set(member.entityId, member.index);
      members.push(member);
      urlOf.push(group.url);
    }
}
const sending = members.filter((m) => senders.has(m.entityId));
const run = new LoadRun(members, sending, sendHz, lifetime * 1000);
await run.connect(30_000);
const { figures } = await run.window(counts);

const perUrl: Record<string, { members: number; frames: number }> = {};
members.forEach((m, i) => {
  const into = (perUrl[urlOf[i] as string] ??= { members: 0, frames: 0 });
  into.members++;
  into.frames += counts.framesOf(m.index);
});
const summary: ScaleLoadSummary = {
  event: 'summary',
  ...counts.window(),
  ...figures,
  senders: sending.length,
  perUrl,
  rejects: counts.rejects,
  errors: counts.errors,
  decodeErrors: counts.decodeErrors,
  unexpectedCloses: counts.unexpectedCloses,
};
await run.finish(summary);
