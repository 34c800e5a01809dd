import type { WorldDefinition } from '@p3/engine';
import {
  RoomHost,
  systemClock,
  timerScheduler,
  type Clock,
  type RoomEvents,
  type RoomHostOptions,
  type RoomKey,
  type RoomLog,
  type RoomOutput,
  type Scheduler,
  type SnapshotStore,
} from '@p3/runtime';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { SimulatorConfig } from './simulator-config.js';
import { SimulatorMetrics } from './simulator-metrics.js';

export interface SimulatorDeps {
  readonly world: WorldDefinition | ((key: RoomKey) => WorldDefinition);
  readonly store: SnapshotStore;
  /** The room log (durability `log`); without it snapshots alone keep state (see RoomHostOptions.log). */
  readonly log?: RoomLog;
  readonly output: RoomOutput;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly events?: RoomEvents;
  readonly clock?: Clock;
  readonly scheduler?: Scheduler;
  /** The cluster's fencing token per room (RoomHostOptions.epochOf). */
  readonly epochOf?: (key: RoomKey) => number;
  /** A room left the host (RoomHostOptions.onRoomClosed). */
  readonly onRoomClosed?: RoomHostOptions['onRoomClosed'];
}

export interface SimulatorHandle {
  readonly host: RoomHost;
  /** Final snapshots, then stop every room. */
  close(): Promise<void>;
}

/**
 * The simulator role: hosts rooms and runs their ticks. In the embedded mode it is composed in the same process
 * as the gateway (RoomOutput = the gateway's fanout, RoomService = this host); the cluster puts a bus between them.
 */
export function startSimulator(config: SimulatorConfig, deps: SimulatorDeps): SimulatorHandle {
  const metrics = new SimulatorMetrics(deps.registry, () => host);
  const events = deps.events ?? {};
  const host: RoomHost = new RoomHost({
    world: deps.world,
    tickRate: config.tickRate,
    bufferFrame: config.bufferFrame,
    clock: deps.clock ?? systemClock,
    scheduler: deps.scheduler ?? timerScheduler,
    store: deps.store,
    ...(deps.log === undefined ? {} : { log: deps.log }),
    output: deps.output,
    logger: deps.logger,
    idleTimeoutMs: config.idleTimeoutMs,
    resumeGraceMs: config.resumeGraceMs,
    ...(config.snapshotIntervalMs === undefined ? {} : { snapshotIntervalMs: config.snapshotIntervalMs }),
    logIntervalMs: config.logIntervalMs,
    idleHeartbeatMs: config.idleHeartbeatMs,
    ackIntervalMs: config.ackIntervalMs,
    maxRooms: config.maxRooms === 0 ? Infinity : config.maxRooms,
    maxMembersPerRoom: config.maxMembersPerRoom === 0 ? Infinity : config.maxMembersPerRoom,
    ...(deps.epochOf === undefined ? {} : { epochOf: deps.epochOf }),
    ...(deps.onRoomClosed === undefined ? {} : { onRoomClosed: deps.onRoomClosed }),
    events: {
      ...events,
      frame: (room, frame, corrections) => {
        metrics.frames.inc();
        if (corrections.length > 0) metrics.corrections.inc(corrections.length);
        events.frame?.(room, frame, corrections);
      },
      opsReceived: (room, submitted, late) => {
        metrics.ops.inc(submitted);
        if (late > 0) metrics.opsLateResimulated.inc(late);
        events.opsReceived?.(room, submitted, late);
      },
      frameDropped: (room, info) => {
        metrics.framesDropped.inc();
        metrics.opsLateDropped.inc();
        events.frameDropped?.(room, info);
      },
      error: (room, error) => {
        metrics.logicErrors.inc();
        events.error?.(room, error);
      },
      logged: (room, latencyMs) => {
        metrics.logAppend.observe(latencyMs / 1000);
        events.logged?.(room, latencyMs);
      },
      ticked: (room, timing) => {
        metrics.tickLateness.observe(timing.lateMs / 1000);
        metrics.tickWork.observe(timing.workMs / 1000);
        events.ticked?.(room, timing);
      },
    },
  });
  return { host, close: () => host.close() };
}
