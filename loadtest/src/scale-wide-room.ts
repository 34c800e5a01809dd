// Scale scenario `wide-room`: one world room of M members split evenly over the two gateways (README "single
// instance, multi nodes": the room runs on one simulator, both gateways subscribe to its output). A few members move
// a bot (stamped with the sender's clock), the others listen. Measures the frames each member gets per second, the
// updates delivered over all members, the delivery latency, and what it costs the gateways and the simulator.
import type { LatencySummary } from './latency-histogram.js';
import type { ProcessFigures } from './scale-cpu-window.js';
import type { GatewayTraffic } from './scale-gateway-traffic.js';
import type { MemberGroup, ScaleLoadPlan } from './scale-load-plan.js';
import type { DependencyRates } from './cluster-rates.js';
import { measureScaleLoads } from './scale-load-window.js';
import { onFreshCluster, type ScenarioContext } from './scale-scenario.js';

export interface WideRoomGateway extends GatewayTraffic {
  /** Members that joined through this gateway, and the frames per second each got on average. */
  readonly members: number;
  readonly framesPerMemberPerSecond: number;
}

export interface WideRoomResult {
  readonly scenario: 'wide-room';
  /** What the cluster asked of NATS, Redis and Postgres per second. */
  readonly dependencies: DependencyRates;
  readonly members: number;
  readonly senders: number;
  readonly sendHz: number;
  readonly connectMs: number;
  readonly windowSeconds: number;
  /** Frames each member received per second: mean over the members, and the slowest and fastest member. */
  readonly framesPerMemberPerSecond: number;
  readonly framesPerMemberPerSecondMin: number;
  readonly framesPerMemberPerSecondMax: number;
  /** Entity updates of other members' bots delivered per second, summed over every member. */
  readonly updatesDeliveredPerSecond: number;
  /** `ops` the senders sent per second (each reaches M - 1 other members). */
  readonly sentPerSecond: number;
  /** Sender's stamp to a member's receipt (tick wait included), for senders and members of one load process. */
  readonly latencyMs: LatencySummary;
  readonly messagesPerMemberPerSecond: number;
  readonly bytesPerMemberPerSecond: number;
  readonly catchupsPerSecond: number;
  readonly gateways: readonly WideRoomGateway[];
  /** Cluster processes (the room's owner is the busier simulator), load processes, NATS and Redis. */
  readonly processes: readonly ProcessFigures[];
  readonly otherCpuPercent: number;
  /** The load processes' worst event-loop delay p99: high means the clients' own queueing is in the latency. */
  readonly loadLoopDelayP99Ms: number;
  readonly rejects: number;
  readonly errors: number;
  readonly decodeErrors: number;
  readonly unexpectedCloses: number;
}

/**
 * The members in four groups, two per load process and one per gateway in each, sizes within one of each other;
 * the senders spread over the groups the same way.
 */
export function wideRoomPlans(
  runId: string,
  urls: readonly [string, string],
  members: number,
  senders: number,
): ScaleLoadPlan[] {
  const quarter = (n: number, i: number): number => Math.floor(n / 4) + (i < n % 4 ? 1 : 0);
  const group = (i: number): MemberGroup => ({
    url: urls[i % 2] as string,
    roomOffset: 0,
    rooms: 1,
    members: quarter(members, i),
    senders: quarter(senders, i),
  });
  return [0, 1]
    .map((p) => ({ runId, groups: [group(2 * p), group(2 * p + 1)].filter((g) => g.members > 0) }))
    .filter((plan) => plan.groups.length > 0);
}

export async function runWideRoom(ctx: ScenarioContext): Promise<WideRoomResult> {
  const { options, log } = ctx;
  // The simulators' default is 500 members per room (P3_MAX_MEMBERS_PER_ROOM); 0 lifts it for the wide room.
  return onFreshCluster(ctx, { P3_MAX_MEMBERS_PER_ROOM: '0' }, async (cluster) => {
    const urls = cluster.gateways.map((g) => `ws://127.0.0.1:${g.port}`);
    const plans = wideRoomPlans(`${ctx.runId}w`, [urls[0]!, urls[1]!], options.members, options.senders);
    log(
      `wide-room: ${options.members} members (${options.senders} sending at ${options.sendHz} Hz) over 2 gateways, ${plans.length} load processes`,
    );
    const { connectMs, cpu, gateways, load, dependencies } = await measureScaleLoads(ctx, cluster, {
      name: 'wide-room',
      plans,
      joins: options.members,
      during: { begin: () => undefined, end: () => undefined },
    });
    const seconds = Math.max(load.windowSeconds, 1e-3);
    const perMember = (n: number): number => n / Math.max(1, load.members) / seconds;
    return {
      scenario: 'wide-room',
      members: load.members,
      senders: load.senders,
      sendHz: options.sendHz,
      connectMs,
      windowSeconds: load.windowSeconds,
      framesPerMemberPerSecond: perMember(load.frames),
      framesPerMemberPerSecondMin: load.framesPerMemberMin / seconds,
      framesPerMemberPerSecondMax: load.framesPerMemberMax / seconds,
      updatesDeliveredPerSecond: load.updates / seconds,
      sentPerSecond: load.sent / seconds,
      latencyMs: load.latencyMs,
      messagesPerMemberPerSecond: perMember(load.messages),
      bytesPerMemberPerSecond: perMember(load.bytes),
      catchupsPerSecond: load.catchups / seconds,
      gateways: gateways.map((g, i) => {
        const joined = load.perUrl[urls[i] as string] ?? { members: 0, frames: 0 };
        return {
          ...g,
          members: joined.members,
          framesPerMemberPerSecond: joined.frames / Math.max(1, joined.members) / seconds,
        };
      }),
      processes: cpu.processes,
      otherCpuPercent: cpu.otherCpuPercent,
      loadLoopDelayP99Ms: load.loadLoopDelayP99Ms,
      rejects: load.rejects,
      errors: load.errors,
      decodeErrors: load.decodeErrors,
      unexpectedCloses: load.unexpectedCloses,
      dependencies,
    };
  });
}
