// Scale scenario `idle-sockets`: N raw WebSocket clients join world rooms of 100 on ONE gateway (gateway-1) and then
// send nothing; the gateway's resident memory before and after says what a joined idle socket costs it. The clients
// run in two load processes (idle-load.ts), never in the bench's process, so their memory is not the gateway's.
import { readFileSync } from 'node:fs';
import { isIdleLoadSummary, mergeIdleWindows } from './idle-counts.js';
import { processRssBytes } from './proc-stats.js';
import { splitRooms } from './room-ranges.js';
import { startCpuWindow, type ProcessFigures } from './scale-cpu-window.js';
import { LoadFleet } from './scale-load-fleet.js';
import {
  joinTimeoutMs,
  loadLifetimeSeconds,
  onFreshCluster,
  sleep,
  type ScenarioContext,
} from './scale-scenario.js';
import { scrapeGateway } from './server-metrics.js';
import { scriptPath } from './ts-process.js';

/** The target: the gateway holding 10,000 idle joined sockets stays under 300 MB of RSS in all. */
export const idleSocketsTarget = { sockets: 10_000, totalRssBytes: 300 * 1024 * 1024 } as const;

/** Members per room (the "100 rooms x 100"): fewer sockets fill fewer rooms. */
export const idleMembersPerRoom = 100;

export interface IdleSocketsResult {
  readonly scenario: 'idle-sockets';
  /** Asked for; `rooms x membersPerRoom` may round it up to fill every room evenly. */
  readonly sockets: number;
  readonly rooms: number;
  readonly membersPerRoom: number;
  /** Sockets the load processes had welcomed, and the gateway's own count (`p3_gateway_connections`) at the end. */
  readonly joined: number;
  readonly gatewayConnections: number | undefined;
  /** From the first connect to the last welcome (the slower load process), ms. */
  readonly connectMs: number;
  readonly windowSeconds: number;
  /** gateway-1's VmRSS once ready (no client yet), at the window's end, and its peak (VmHWM), in bytes. */
  readonly rssBeforeBytes: number;
  readonly rssAfterBytes: number;
  readonly rssPeakBytes: number;
  /** (after - before) / joined: what one idle joined socket costs the gateway. */
  readonly rssPerSocketBytes: number;
  /** The total extrapolated to the target's 10,000 sockets (before + 10,000 x per socket). */
  readonly rssAt10kBytes: number;
  readonly targetTotalRssBytes: number;
  /** rssAfterBytes under the target (with fewer sockets than 10,000: the extrapolation is judged). */
  readonly meetsTarget: boolean;
  /** What an idle socket receives (room heartbeats): messages and bytes per socket per second, by type. */
  readonly messagesPerSocketPerSecond: number;
  readonly bytesPerSocketPerSecond: number;
  readonly byTypePerSocketPerSecond: Readonly<Record<string, number>>;
  /** Cluster processes, load processes, NATS and Redis over the window (gateway-1's CPU: what idling costs). */
  readonly processes: readonly ProcessFigures[];
  readonly otherCpuPercent: number;
  readonly unexpectedCloses: number;
}

export async function runIdleSockets(ctx: ScenarioContext): Promise<IdleSocketsResult> {
  const { options, log } = ctx;
  const rooms = Math.max(1, Math.ceil(options.sockets / idleMembersPerRoom));
  const membersPerRoom = Math.ceil(options.sockets / rooms);
  const total = rooms * membersPerRoom;
  return onFreshCluster(ctx, {}, async (cluster) => {
    const gateway = cluster.gateways[0]!;
    const pid = gateway.child.pid as number;
    // The gateway's start-up garbage settles before the baseline.
    await sleep(1000);
    const rssBeforeBytes = processRssBytes(pid);
    const lifetime = String(loadLifetimeSeconds(options, total));
    const argLists = splitRooms(rooms, 2).map((range) => [
      '--url',
      `ws://127.0.0.1:${gateway.port}`,
      '--codec',
      'binary',
      '--rooms',
      String(range.count),
      '--room-offset',
      String(range.offset),
      '--clients',
      String(membersPerRoom),
      '--run-id',
      ctx.runId,
      '--lifetime',
      lifetime,
    ]);
    log(
      `idle-sockets: ${total} sockets in ${rooms} rooms on ${gateway.name}, ${argLists.length} load processes`,
    );
    const fleet = LoadFleet.start('idle-load', scriptPath('idle-load.ts'), argLists, isIdleLoadSummary);
    try {
      const { connectMs } = await fleet.ready(joinTimeoutMs(total));
      cluster.check();
      log(
        `idle-sockets: joined in ${connectMs} ms; warm-up ${options.warmup} s, window ${options.seconds} s`,
      );
      await sleep(options.warmup * 1000);
      const cpu = startCpuWindow([...cluster.processes, ...fleet.pids, ...cluster.services]);
      await fleet.measureStart();
      await sleep(options.seconds * 1000);
      const rssAfterBytes = processRssBytes(pid);
      const rssPeakBytes = peakRssBytes(pid);
      const figures = cpu.end();
      // Before the window closes: the load processes hang up right after their summary.
      const scrape = await scrapeGateway(gateway.port);
      const merged = mergeIdleWindows(await fleet.measureEnd());
      cluster.check();
      const socketSeconds = Math.max(1, merged.connections) * (merged.windowMs / 1000);
      const byTypePerSocketPerSecond: Record<string, number> = {};
      for (const [type, n] of Object.entries(merged.byType))
        byTypePerSocketPerSecond[type] = n / socketSeconds;
      const rssPerSocketBytes = (rssAfterBytes - rssBeforeBytes) / Math.max(1, merged.connections);
      const rssAt10kBytes = rssBeforeBytes + rssPerSocketBytes * idleSocketsTarget.sockets;
      const judged = merged.connections >= idleSocketsTarget.sockets ? rssAfterBytes : rssAt10kBytes;
      return {
        scenario: 'idle-sockets',
        sockets: options.sockets,
        rooms,
        membersPerRoom,
        joined: merged.connections,
        gatewayConnections: scrape?.connections,
        connectMs,
        windowSeconds: figures.seconds,
        rssBeforeBytes,
        rssAfterBytes,
        rssPeakBytes,
        rssPerSocketBytes,
        rssAt10kBytes,
        targetTotalRssBytes: idleSocketsTarget.totalRssBytes,
        meetsTarget: judged < idleSocketsTarget.totalRssBytes,
        messagesPerSocketPerSecond: merged.messages / socketSeconds,
        bytesPerSocketPerSecond: merged.bytes / socketSeconds,
        byTypePerSocketPerSecond,
        processes: figures.processes,
        otherCpuPercent: figures.otherCpuPercent,
        unexpectedCloses: merged.unexpectedCloses,
      };
    } finally {
      await fleet.stop();
    }
  });
}

/** VmHWM (the peak resident set) of a process in bytes; 0 when unreadable. */
function peakRssBytes(pid: number): number {
  try {
    const kib = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kib === undefined ? 0 : Number(kib) * 1024;
  } catch {
    return 0;
  }
}
