import type { DependencyRates } from './cluster-rates.js';
import type { ScaleBenchResult, ScaleScenarioResult } from './scale-bench-runner.js';
import type { ProcessFigures } from './scale-cpu-window.js';
import type { IdleSocketsResult } from './scale-idle-sockets.js';
import { natsScalingTolerance, type NatsPerGatewayResult } from './scale-nats-per-gateway.js';
import type { WideRoomResult } from './scale-wide-room.js';

const MiB = 1024 * 1024;
const fixed = (n: number | undefined, digits = 1): string => (n === undefined ? 'n/a' : n.toFixed(digits));
const mib = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`;
const verdict = (ok: boolean): string => (ok ? 'met' : 'NOT met');

/** Two columns: a label padded to the widest, then its value. */
function pairs(rows: ReadonlyArray<readonly [string, string]>): string[] {
  const width = Math.max(...rows.map(([label]) => label.length));
  return rows.map(([label, value]) => `  ${label.padEnd(width)}  ${value}`);
}

/** A table with a header; the first column left-aligned, the others right-aligned. */
function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    `  ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ')}`;
  return [line(header), ...rows.map(line)];
}

function processTable(processes: readonly ProcessFigures[], otherCpuPercent: number): string[] {
  return [
    ...table(
      ['process', 'CPU % of a core', 'RSS MiB'],
      processes.map((p) => [p.name, fixed(p.cpuPercent), fixed(p.rssBytes / MiB)]),
    ),
    `  (every other process of the machine: ${fixed(otherCpuPercent)} % of a core)`,
  ];
}

function idleSocketsReport(r: IdleSocketsResult): string[] {
  const types = Object.entries(r.byTypePerSocketPerSecond)
    .sort((a, b) => b[1] - a[1])
    .map(([type, n]) => `${type} ${fixed(n, 2)}`)
    .join(', ');
  const judged =
    r.joined >= 10_000
      ? `${mib(r.rssAfterBytes)} with ${r.joined} sockets`
      : `${mib(r.rssAt10kBytes)} extrapolated from ${r.joined} sockets`;
  return [
    `idle-sockets: ${r.joined} joined sockets sending nothing, ${r.rooms} rooms x ${r.membersPerRoom}, all on gateway-1; ${fixed(r.windowSeconds)} s window`,
    ...pairs([
      ['joined (gateway-1 counts)', `${r.joined} (${r.gatewayConnections ?? 'n/a'})`],
      ['joins took', `${r.connectMs} ms`],
      ['gateway-1 RSS before (no client)', mib(r.rssBeforeBytes)],
      ['gateway-1 RSS after', mib(r.rssAfterBytes)],
      ['gateway-1 RSS peak (VmHWM)', mib(r.rssPeakBytes)],
      ['RSS per socket', `${fixed(r.rssPerSocketBytes / 1024, 2)} KiB`],
      ['RSS at 10,000 sockets', mib(r.rssAt10kBytes)],
      ['messages per socket per second', `${fixed(r.messagesPerSocketPerSecond, 2)} (${types || 'none'})`],
      ['bytes per socket per second', fixed(r.bytesPerSocketPerSecond)],
      ['unexpected closes', String(r.unexpectedCloses)],
    ]),
    ...processTable(r.processes, r.otherCpuPercent),
    `  target: gateway RSS under ${mib(r.targetTotalRssBytes)} in all with 10,000 idle sockets: ${verdict(r.meetsTarget)} (${judged})`,
  ];
}

/** The cluster's asks of its dependencies over the window, in all and per room. */
function dependencyLines(d: DependencyRates, rooms: number): Array<[string, string]> {
  const per = (n: number) => `${fixed(n)} (${fixed(n / Math.max(1, rooms), 2)} per room)`;
  return [
    [
      'NATS msgs/s on the cluster subjects',
      `${per(d.natsMessagesPerSecond)}, ${fixed(d.natsKilobytesPerSecond)} KB/s`,
    ],
    ['Redis commands/s (whole server)', per(d.redisCommandsPerSecond)],
    ['Postgres snapshot writes/s', per(d.postgresWritesPerSecond)],
  ];
}

function wideRoomReport(r: WideRoomResult): string[] {
  const l = r.latencyMs;
  return [
    `wide-room: one room of ${r.members} members over 2 gateways, ${r.senders} sending at ${r.sendHz} Hz; ${fixed(r.windowSeconds)} s window`,
    ...pairs([
      ['joins took', `${r.connectMs} ms`],
      [
        'frames per member per second',
        `${fixed(r.framesPerMemberPerSecond)} (slowest member ${fixed(r.framesPerMemberPerSecondMin)}, fastest ${fixed(r.framesPerMemberPerSecondMax)})`,
      ],
      ['frames delivered per second (all)', fixed(r.framesPerMemberPerSecond * r.members, 0)],
      ['updates delivered per second (all)', fixed(r.updatesDeliveredPerSecond, 0)],
      ['ops sent per second', fixed(r.sentPerSecond)],
      [
        'delivery latency ms',
        `p50 ${fixed(l.p50, 2)}, p90 ${fixed(l.p90, 2)}, p99 ${fixed(l.p99, 2)}, max ${fixed(l.max, 2)} (${l.count} samples)`,
      ],
      ['messages per member per second', fixed(r.messagesPerMemberPerSecond, 2)],
      ['bytes per member per second', fixed(r.bytesPerMemberPerSecond, 0)],
      ['catch-ups per second (lagging sockets)', fixed(r.catchupsPerSecond, 2)],
      ['load processes loop delay p99', `${fixed(r.loadLoopDelayP99Ms)} ms`],
      [
        'rejects / errors / decode errors / closes',
        `${r.rejects} / ${r.errors} / ${r.decodeErrors} / ${r.unexpectedCloses}`,
      ],
      ...dependencyLines(r.dependencies, 1),
    ]),
    ...table(
      ['gateway', 'members', 'frames/member/s', 'room msgs in/s', 'KB in/s'],
      r.gateways.map((g) => [
        g.name,
        String(g.members),
        fixed(g.framesPerMemberPerSecond),
        fixed(g.outputMessagesPerSecond),
        fixed(g.outputBytesPerSecond === undefined ? undefined : g.outputBytesPerSecond / 1000),
      ]),
    ),
    ...processTable(r.processes, r.otherCpuPercent),
  ];
}

function natsReport(r: NatsPerGatewayResult): string[] {
  return [
    `nats-per-gateway: ${r.rooms} rooms x ${r.membersPerRoom} members (${r.sendersPerRoom} sending at ${r.sendHz} Hz), ${r.rooms - 1} rooms on gateway-1, 1 on gateway-2; ${fixed(r.windowSeconds)} s window`,
    ...table(
      ['gateway', 'rooms served', 'sockets', 'NATS msgs in/s', 'KB in/s', 'msgs/s per served room'],
      r.gateways.map((g) => [
        g.name,
        String(g.roomsServed ?? 'n/a'),
        String(g.connections ?? 'n/a'),
        fixed(g.outputMessagesPerSecond),
        fixed(g.outputBytesPerSecond === undefined ? undefined : g.outputBytesPerSecond / 1000),
        fixed(g.messagesPerSecondPerServedRoom, 2),
      ]),
    ),
    ...pairs([
      [
        'published on all room output subjects',
        `${fixed(r.clusterOutputMessagesPerSecond)} msgs/s, ${fixed(r.clusterOutputBytesPerSecond / 1000)} KB/s`,
      ],
      ["published for gateway-2's room", `${fixed(r.loneRoomOutputMessagesPerSecond)} msgs/s`],
      ['gateway-2 / gateway-1 messages', `${fixed(r.ratio, 4)} (served rooms ${fixed(r.servedRatio, 4)})`],
      ["gateway-2's share of the cluster's output", fixed(r.gateway2ShareOfCluster, 4)],
      ['frames per member per second', fixed(r.framesPerMemberPerSecond)],
      ['rejects / errors / closes', `${r.rejects} / ${r.errors} / ${r.unexpectedCloses}`],
      ...dependencyLines(r.dependencies, r.rooms),
    ]),
    ...processTable(r.processes, r.otherCpuPercent),
    `  target: NATS messages per gateway scale with the rooms it serves (gateway-2 / gateway-1 <= ${natsScalingTolerance} x served-room ratio, not ~1): ${verdict(r.scalesWithServedRooms)}`,
  ];
}

function scenarioReport(r: ScaleScenarioResult): string[] {
  switch (r.scenario) {
    case 'idle-sockets':
      return idleSocketsReport(r);
    case 'wide-room':
      return wideRoomReport(r);
    case 'nats-per-gateway':
      return natsReport(r);
  }
}

/** The human-readable report: a header, then one block per scenario (figures, processes, verdicts). */
export function formatScaleReport(run: ScaleBenchResult): string {
  const header = `scale bench: ${run.results.length} scenarios, each on a fresh cluster (2 gateways, 2 simulators, 1 persister); ${run.cores} cores, load average ${run.loadAverageBefore.map((n) => n.toFixed(2)).join(' ')} before; ${run.durationSeconds.toFixed(0)} s in all`;
  return [header, ...run.results.flatMap((r) => ['', ...scenarioReport(r)])].join('\n');
}

export function formatScaleJsonLine(run: ScaleBenchResult): string {
  return JSON.stringify({ bench: 'scale', ...run });
}
