// Scale scenario `nats-per-gateway`: R rooms of a few members each (one of them moving a bot), every room's members
// on gateway-1 except those of exactly one room, on gateway-2. A gateway subscribes only to the output of rooms it
// has members in, so gateway-2 must take in about 1/(R-1) of what gateway-1 does (its one room), not about as much
// (the whole cluster): NATS traffic per gateway scales with the rooms it serves, not with the cluster.
import { splitRooms } from './room-ranges.js';
import type { ProcessFigures } from './scale-cpu-window.js';
import type { GatewayTraffic } from './scale-gateway-traffic.js';
import { scaleRoomName, type ScaleLoadPlan } from './scale-load-plan.js';
import type { DependencyRates } from './cluster-rates.js';
import { measureScaleLoads } from './scale-load-window.js';
import { RoomOutputTap } from './scale-room-output-tap.js';
import { onFreshCluster, type ScenarioContext } from './scale-scenario.js';

/** Members of each room, of which one sends: "a few clients each", enough for frames and a fan-out. */
export const natsRoomMembers = 3;
export const natsRoomSenders = 1;
/**
 * gateway-2's intake may be this many times its share of the served rooms (1/(R-1)) and still count as scaling with
 * them: rooms differ a little in frames per second; taking in the cluster's output would be about R-1 times over.
 */
export const natsScalingTolerance = 3;

export interface NatsGatewayFigures extends GatewayTraffic {
  /** Room output messages per second per room this gateway serves. */
  readonly messagesPerSecondPerServedRoom: number | undefined;
}

export interface NatsPerGatewayResult {
  readonly scenario: 'nats-per-gateway';
  /** What the cluster asked of NATS, Redis and Postgres per second (divide by `rooms` for one room's share). */
  readonly dependencies: DependencyRates;
  readonly rooms: number;
  readonly membersPerRoom: number;
  readonly sendersPerRoom: number;
  readonly sendHz: number;
  readonly connectMs: number;
  readonly windowSeconds: number;
  /** gateway-1 (R-1 rooms) and gateway-2 (1 room). */
  readonly gateways: readonly NatsGatewayFigures[];
  /** What the simulators published on every room output subject of the cluster, per second. */
  readonly clusterOutputMessagesPerSecond: number;
  readonly clusterOutputBytesPerSecond: number;
  /** What they published for gateway-2's one room: what gateway-2 should take in. */
  readonly loneRoomOutputMessagesPerSecond: number;
  /** gateway-2 / gateway-1 messages: about `servedRatio` if traffic follows the rooms, about 1 if it follows the cluster. */
  readonly ratio: number | undefined;
  /** gateway-2's served rooms / gateway-1's (1/(R-1)). */
  readonly servedRatio: number | undefined;
  /** gateway-2's intake as a share of the whole cluster's room output (about 1/R when it scales). */
  readonly gateway2ShareOfCluster: number | undefined;
  readonly scalesWithServedRooms: boolean;
  /** Frames per member per second: the rooms were live (sanity). */
  readonly framesPerMemberPerSecond: number;
  readonly processes: readonly ProcessFigures[];
  readonly otherCpuPercent: number;
  readonly unexpectedCloses: number;
  readonly rejects: number;
  readonly errors: number;
}

/**
 * gateway-1's rooms (0 .. R-2) split over two load processes; gateway-2's room goes with the last of them.
 */
export function natsPlans(runId: string, urls: readonly [string, string], rooms: number): ScaleLoadPlan[] {
  const common = { members: natsRoomMembers, senders: natsRoomSenders };
  const plans: ScaleLoadPlan[] = splitRooms(rooms - 1, 2).map((range) => ({
    runId,
    groups: [{ url: urls[0], roomOffset: range.offset, rooms: range.count, ...common }],
  }));
  const last = plans[plans.length - 1] as ScaleLoadPlan;
  plans[plans.length - 1] = {
    runId,
    groups: [...last.groups, { url: urls[1], roomOffset: rooms - 1, rooms: 1, ...common }],
  };
  return plans;
}

export async function runNatsPerGateway(ctx: ScenarioContext): Promise<NatsPerGatewayResult> {
  const { options, log } = ctx;
  return onFreshCluster(ctx, {}, async (cluster) => {
    const runId = `${ctx.runId}n`;
    const tap = new RoomOutputTap(cluster.nats, cluster.prefix, scaleRoomName(runId, options.rooms - 1));
    try {
      await tap.ready();
      const urls = cluster.gateways.map((g) => `ws://127.0.0.1:${g.port}`);
      log(
        `nats-per-gateway: ${options.rooms} rooms x ${natsRoomMembers} members, ${options.rooms - 1} on gateway-1, 1 on gateway-2`,
      );
      const measured = await measureScaleLoads(ctx, cluster, {
        name: 'nats-per-gateway',
        plans: natsPlans(runId, [urls[0]!, urls[1]!], options.rooms),
        joins: options.rooms * natsRoomMembers,
        during: { begin: () => tap.begin(), end: () => tap.end() },
      });
      const { connectMs, cpu, load, counted: published, dependencies } = measured;
      const gateways = measured.gateways.map((g) => ({
        ...g,
        messagesPerSecondPerServedRoom:
          g.outputMessagesPerSecond === undefined || !g.roomsServed
            ? undefined
            : g.outputMessagesPerSecond / g.roomsServed,
      }));
      const [one, two] = gateways;
      const ratio =
        one?.outputMessagesPerSecond && two?.outputMessagesPerSecond !== undefined
          ? two.outputMessagesPerSecond / one.outputMessagesPerSecond
          : undefined;
      const servedRatio =
        one?.roomsServed && two?.roomsServed !== undefined ? two.roomsServed / one.roomsServed : undefined;
      const tapSeconds = Math.max(published.all.seconds, 1e-3);
      const clusterOutputMessagesPerSecond = published.all.messages / tapSeconds;
      return {
        scenario: 'nats-per-gateway',
        rooms: options.rooms,
        membersPerRoom: natsRoomMembers,
        sendersPerRoom: natsRoomSenders,
        sendHz: options.sendHz,
        connectMs,
        windowSeconds: cpu.seconds,
        gateways,
        clusterOutputMessagesPerSecond,
        clusterOutputBytesPerSecond: published.all.bytes / tapSeconds,
        loneRoomOutputMessagesPerSecond: published.room.messages / tapSeconds,
        ratio,
        servedRatio,
        gateway2ShareOfCluster:
          two?.outputMessagesPerSecond !== undefined && clusterOutputMessagesPerSecond > 0
            ? two.outputMessagesPerSecond / clusterOutputMessagesPerSecond
            : undefined,
        scalesWithServedRooms:
          ratio !== undefined &&
          servedRatio !== undefined &&
          (two?.outputMessagesPerSecond ?? 0) > 0 &&
          ratio <= natsScalingTolerance * servedRatio,
        framesPerMemberPerSecond:
          load.frames / Math.max(1, load.members) / Math.max(load.windowSeconds, 1e-3),
        processes: cpu.processes,
        otherCpuPercent: cpu.otherCpuPercent,
        unexpectedCloses: load.unexpectedCloses,
        dependencies,
        rejects: load.rejects,
        errors: load.errors,
      };
    } finally {
      tap.close();
    }
  });
}
