import type { ArenaRoundsResult } from './arena-rounds.js';
import type { ArenaBenchResult, GatewayFigures, TargetResult } from './arena-runner.js';
import { measuresAcks, Target, type ServerKind } from './bench-options.js';

const fmt = (n: number | undefined, digits = 0): string =>
  n === undefined || !Number.isFinite(n)
    ? '-'
    : n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** Column names of the server kinds (shared with the SDK bench's report). */
export const kindNames: Record<ServerKind, string> = {
  p3: 'P3 log on',
  'p3-cluster': 'P3 cluster',
  'p3-nolog': 'P3 log off',
  'p3-sdk': 'P3 SDK',
  raw: 'raw uWS',
  colyseus: 'Colyseus',
};
const names = kindNames;

/** Bytes of JavaScript heap the load processes allocated per `per` (received messages or delivered updates). */
export function heapBytesPer(r: TargetResult, per: 'message' | 'update'): number | undefined {
  const n = per === 'message' ? r.load.receivedMessages : r.load.updates;
  return n > 0 ? r.load.heapAllocatedBytes / n : undefined;
}

/** An ack latency percentile, or '-' where no ack was measured (the raw floor sends none). */
const ackFigure = (r: TargetResult, q: 'p50' | 'p99'): string =>
  r.load.ackLatencyMs.count > 0 ? fmt(r.load.ackLatencyMs[q], 1) : '-';

/** The human-readable table of one round: one column per server, then the derived comparisons. */
function formatReport(bench: ArenaBenchResult): string {
  const { options: o, results, derived } = bench;
  const offered = o.rooms * o.clients * o.sendHz;
  const rows: Array<[string, (r: TargetResult) => string]> = [
    ['server CPU (% of one core)', (r) => fmt(r.serverCpuPercent, 1)],
    ['server RSS (MB, end)', (r) => fmt(r.serverRssBytes / 2 ** 20, 1)],
    ['updates delivered / s', (r) => fmt(r.load.updatesPerSecond)],
    ['bytes / client / s received', (r) => fmt(r.load.bytesPerClientPerSecond)],
    ['messages / client / s received', (r) => fmt(r.load.messagesPerClientPerSecond, 1)],
    ['latency p50 (ms)', (r) => fmt(r.load.latencyMs.p50, 2)],
    ['latency p90 (ms)', (r) => fmt(r.load.latencyMs.p90, 2)],
    ['latency p99 (ms)', (r) => fmt(r.load.latencyMs.p99, 2)],
    ['latency max (ms)', (r) => fmt(r.load.latencyMs.max, 2)],
    ['ack latency p50 (ms)', (r) => ackFigure(r, 'p50')],
    ['ack latency p99 (ms)', (r) => ackFigure(r, 'p99')],
    [
      'window sends never acked',
      (r) =>
        !measuresAcks(r.kind)
          ? '-'
          : `${fmt(r.load.acksAwaited - r.load.ackLatencyMs.count)} of ${fmt(r.load.acksAwaited)}`,
    ],
    ['server loop delay p99 (ms)', (r) => fmt(r.serverLoopDelayP99Ms, 1)],
    ['server tick lateness p99 (ms, <=)', (r) => fmt(r.serverTickLatenessP99Ms, 1)],
    ['server tick work p99 (ms, <=)', (r) => fmt(r.serverTickWorkP99Ms, 1)],
    ['log append p50 (ms, <=)', (r) => fmt(r.serverLogAppendP50Ms, 1)],
    ['log append p99 (ms, <=)', (r) => fmt(r.serverLogAppendP99Ms, 1)],
    ['log append mean (ms)', (r) => fmt(r.serverLogAppendMeanMs, 2)],
    ['log syncs / s', (r) => fmt(r.logSyncsPerSecond, 1)],
    ['log records / sync', (r) => fmt(r.logRecordsPerSync, 1)],
    ['log KB / s', (r) => fmt(r.logBytesPerSecond === undefined ? undefined : r.logBytesPerSecond / 1024, 0)],
    ['server CPU-us / delivered update', (r) => fmt(r.cpuMicrosPerUpdate, 3)],
    [
      'late ops % (of ops applied)',
      (r) => fmt(r.lateOpsShare === undefined ? undefined : 100 * r.lateOpsShare, 2),
    ],
    [`updates sent / s (offered ${fmt(offered)})`, (r) => fmt(r.load.sentPerSecond)],
    ['own-bot echoes / s (not counted)', (r) => fmt(r.load.selfUpdatesPerSecond)],
    ['peers heard (pairs seen/expected)', (r) => `${r.load.pairsSeen}/${r.load.pairsExpected}`],
    [`load CPU % (sum of ${bench.loadProcesses} processes)`, (r) => fmt(r.loadCpuPercent, 1)],
    ['busiest load process CPU %', (r) => fmt(r.loadCpuPercentMax, 1)],
    ['load CPU % per client', (r) => fmt(r.loadCpuPercentPerClient, 3)],
    ['load heap B / received message', (r) => fmt(heapBytesPer(r, 'message'), 0)],
    ['load heap B / delivered update', (r) => fmt(heapBytesPer(r, 'update'), 0)],
    [
      'load GCs / s (pause ms / s)',
      (r) => `${fmt(r.load.gcCount / r.windowSeconds, 1)} (${fmt(r.load.gcPauseMs / r.windowSeconds, 1)})`,
    ],
    ['load loop delay p99 (ms, worst)', (r) => fmt(r.load.loadLoopDelayP99Ms, 1)],
    ['other processes CPU %', (r) => fmt(r.otherCpuPercent, 1)],
    [
      'rejects/errors/catchups/closes',
      (r) => `${r.load.rejects}/${r.load.errors}/${r.load.catchups}/${r.load.unexpectedCloses}`,
    ],
  ];
  const label = 36;
  const col = 14;
  const lines = [
    `arena bench: ${o.rooms} rooms x ${o.clients} clients = ${o.rooms * o.clients} sockets, ${o.codec} codec, ` +
      `${o.sendHz} Hz sends, ${o.tickRate} Hz ticks, ${o.warmup} s warm-up, ${fmt(results[0]?.windowSeconds, 1)} s window, ` +
      `${bench.loadProcesses} load processes`,
    `machine: ${bench.cores} cores, load average (1/5/15 min) before ${bench.loadAverageBefore.map((l) => fmt(l, 2)).join(' ')}, ` +
      `after ${bench.loadAverageAfter.map((l) => fmt(l, 2)).join(' ')}`,
    '',
    ''.padEnd(label) + results.map((r) => names[r.kind].padStart(col)).join(''),
    ...rows.map(([name, value]) => name.padEnd(label) + results.map((r) => value(r).padStart(col)).join('')),
    '',
  ];
  if (derived.cpuPerUpdateRatio !== undefined) {
    lines.push(
      `CPU per delivered update, P3 log on / raw: ${fmt(derived.cpuPerUpdateRatio, 2)}x (target <= 1.5x: ${derived.p3MeetsCpu ? 'met' : 'MISSED'})`,
    );
  }
  if (derived.p3NoLogCpuPerUpdateRatio !== undefined) {
    lines.push(`CPU per delivered update, P3 log off / raw: ${fmt(derived.p3NoLogCpuPerUpdateRatio, 2)}x`);
  }
  if (derived.p3SdkCpuPerUpdateRatio !== undefined) {
    lines.push(`CPU per delivered update, P3 SDK / raw: ${fmt(derived.p3SdkCpuPerUpdateRatio, 2)}x`);
  }
  const p3 = results.find((r) => r.kind === Target.P3);
  const p3NoLog = results.find((r) => r.kind === Target.P3NoLog);
  const p3Sdk = results.find((r) => r.kind === Target.P3Sdk);
  if (derived.logCpuCostRatio !== undefined && p3 && p3NoLog) {
    lines.push(
      `cost of the log: CPU per delivered update log on / log off ${fmt(derived.logCpuCostRatio, 2)}x ` +
        `(${fmt(p3.cpuMicrosPerUpdate - p3NoLog.cpuMicrosPerUpdate, 3)} us per update); ` +
        `ack latency p50/p99 ${ackFigure(p3, 'p50')}/${ackFigure(p3, 'p99')} ms vs ${ackFigure(p3NoLog, 'p50')}/${ackFigure(p3NoLog, 'p99')} ms`,
    );
  }
  if (p3) {
    lines.push(
      `P3 log on latency p99 ${fmt(p3.load.latencyMs.p99, 2)} ms vs target ${fmt(derived.p99TargetMs, 1)} ms (1 tick + 5 ms): ` +
        (derived.p3MeetsLatency ? 'met' : 'MISSED') +
        (p3NoLog ? ` (log off: ${fmt(p3NoLog.load.latencyMs.p99, 2)} ms)` : ''),
    );
    if (derived.tickedFloorP99Ms !== undefined) {
      lines.push(
        `ticked floor: the raw floor's latencies plus a wait for the next tick give p99 ${fmt(derived.tickedFloorP99Ms, 2)} ms ` +
          `on this machine and load (what a ticked server adding nothing else would measure); ` +
          `P3 log on is ${fmt(p3.load.latencyMs.p99 - derived.tickedFloorP99Ms, 2)} ms above it`,
      );
    }
  }
  const p3Cluster = results.find((r) => r.kind === Target.P3Cluster);
  if (p3Cluster) lines.push(...clusterLines(p3Cluster, p3, derived));
  if (p3Sdk) {
    lines.push(
      `P3 SDK latency p99 ${fmt(p3Sdk.load.latencyMs.p99, 2)} ms vs target ${fmt(derived.p99TargetMs, 1)} ms (1 tick + 5 ms): ` +
        (derived.p3SdkMeetsLatency ? 'met' : 'MISSED') +
        `; the SDK's load CPU ${fmt(p3Sdk.loadCpuPercent, 1)} % (${fmt(p3Sdk.loadCpuPercentPerClient, 3)} % per client)`,
    );
  }
  // Per process: the sum over several processes can pass 100 % while none of them is saturated.
  const saturated = results.filter((r) => r.loadCpuPercentMax > 85 || r.load.loadLoopDelayP99Ms > 20);
  if (saturated.length > 0) {
    lines.push(
      `note: a load process looked saturated during ${saturated.map((r) => names[r.kind]).join(', ')}: latency includes its own queueing`,
    );
  }
  const busy = results.filter((r) => r.otherCpuPercent > 20);
  if (busy.length > 0) {
    lines.push(
      `note: other processes used ${busy.map((r) => `${fmt(r.otherCpuPercent, 0)} % (${names[r.kind]})`).join(', ')} of a core: figures are noisy`,
    );
  }
  return lines.join('\n');
}

/** The cluster's own figures: its processes, NATS and Redis, each gateway, the NATS hop and the latency verdict. */
function clusterLines(
  cluster: TargetResult,
  p3: TargetResult | undefined,
  derived: ArenaBenchResult['derived'],
): string[] {
  const lines: string[] = [];
  const c = cluster.cluster;
  if (c !== undefined) {
    const mb = (bytes: number | undefined): string => (bytes === undefined ? '-' : fmt(bytes / 2 ** 20, 0));
    lines.push(
      `P3 cluster processes (CPU % of one core, RSS MB at the end): ` +
        c.processes.map((p) => `${p.name} ${fmt(p.cpuPercent, 1)} % ${mb(p.rssBytes)} MB`).join(', '),
    );
    if (c.services.length > 0) {
      lines.push(
        `beside them (not in the server CPU): ` +
          c.services.map((p) => `${p.name} ${fmt(p.cpuPercent, 1)} %`).join(', ') +
          `; CPU-us / delivered update with them ${fmt(c.cpuMicrosPerUpdateWithServices, 3)}`,
      );
    }
    const label = 36;
    const col = 14;
    const rows: Array<[string, (g: GatewayFigures) => string]> = [
      ['client sockets (end)', (g) => fmt(g.connections)],
      ['rooms served (end)', (g) => fmt(g.roomsServed)],
      ['room output messages / s (NATS)', (g) => fmt(g.outputMessagesPerSecond, 1)],
      [
        'room output KB / s (NATS)',
        (g) => fmt(g.outputBytesPerSecond === undefined ? undefined : g.outputBytesPerSecond / 1024, 1),
      ],
      ['room input batches / s (NATS)', (g) => fmt(g.inputBatchesPerSecond, 1)],
      ['loop delay p99 (ms)', (g) => fmt(g.loopDelayP99Ms, 1)],
    ];
    lines.push(
      'P3 cluster gateways over the window:'.padEnd(label) +
        c.gateways.map((g) => g.name.padStart(col)).join(''),
      ...rows.map(
        ([name, value]) => `  ${name}`.padEnd(label) + c.gateways.map((g) => value(g).padStart(col)).join(''),
      ),
    );
  }
  if (p3 !== undefined && derived.natsHopLatencyP50Ms !== undefined) {
    lines.push(
      `NATS hop: P3 cluster latency p50 ${fmt(cluster.load.latencyMs.p50, 2)} ms vs P3 log on ${fmt(p3.load.latencyMs.p50, 2)} ms: ` +
        `${signed(derived.natsHopLatencyP50Ms)} ms (p99 ${signed(derived.natsHopLatencyP99Ms)} ms); ` +
        `CPU per delivered update, cluster / P3 log on: ${fmt(derived.clusterCpuPerUpdateRatio, 2)}x`,
    );
  }
  lines.push(
    `P3 cluster latency p99 ${fmt(cluster.load.latencyMs.p99, 2)} ms vs target ${fmt(derived.p99TargetMs, 1)} ms (1 tick + 5 ms): ` +
      (derived.p3ClusterMeetsLatency ? 'met' : 'MISSED'),
  );
  return lines;
}

const signed = (n: number | undefined): string => (n !== undefined && n >= 0 ? `+${fmt(n, 2)}` : fmt(n, 2));

/**
 * The per-round line: P3 log on ("on"), P3 log off ("off"), P3 driven by its SDK ("sdk"), the floor, and the log's
 * cost. Columns no round has a figure for (a server the run left out) are not printed.
 */
const roundColumns: ReadonlyArray<readonly [string, number, (f: ArenaRoundsResult['median']) => string]> = [
  ['on p99', 8, (f) => fmt(f.p3LatencyP99Ms, 2)],
  ['off p99', 9, (f) => fmt(f.p3NoLogLatencyP99Ms, 2)],
  ['floor p99', 11, (f) => fmt(f.rawLatencyP99Ms, 2)],
  ['ticked', 8, (f) => fmt(f.tickedFloorP99Ms, 2)],
  ['on us/upd', 11, (f) => fmt(f.p3CpuMicrosPerUpdate, 3)],
  ['off us/upd', 12, (f) => fmt(f.p3NoLogCpuMicrosPerUpdate, 3)],
  ['raw us/upd', 12, (f) => fmt(f.rawCpuMicrosPerUpdate, 3)],
  ['on/raw', 8, (f) => fmt(f.cpuPerUpdateRatio, 2)],
  ['on/off', 8, (f) => fmt(f.logCpuCostRatio, 2)],
  ['ack p99 on', 12, (f) => fmt(f.p3AckLatencyP99Ms, 0)],
  ['off', 7, (f) => fmt(f.p3NoLogAckLatencyP99Ms, 0)],
  ['append p99', 12, (f) => fmt(f.logAppendP99Ms, 1)],
  ['syncs/s', 9, (f) => fmt(f.logSyncsPerSecond, 0)],
  ['sdk p99', 9, (f) => fmt(f.p3SdkLatencyP99Ms, 2)],
  ['sdk us/upd', 12, (f) => fmt(f.p3SdkCpuMicrosPerUpdate, 3)],
  ['sdk/raw', 9, (f) => fmt(f.p3SdkCpuPerUpdateRatio, 2)],
  ['sdk load %', 12, (f) => fmt(f.p3SdkLoadCpuPercent, 1)],
  ['cl p50', 8, (f) => fmt(f.p3ClusterLatencyP50Ms, 2)],
  ['cl p99', 8, (f) => fmt(f.p3ClusterLatencyP99Ms, 2)],
  ['hop p50', 9, (f) => fmt(f.natsHopLatencyP50Ms, 2)],
  ['cl ack p99', 12, (f) => fmt(f.p3ClusterAckLatencyP99Ms, 0)],
  ['cl us/upd', 11, (f) => fmt(f.p3ClusterCpuMicrosPerUpdate, 3)],
  ['cl/on', 7, (f) => fmt(f.clusterCpuPerUpdateRatio, 2)],
  ['other %', 9, (f) => fmt(f.otherCpuPercent, 1)],
];

/** The server whose p99 picks the median round (`summarizeRounds`): P3 log on when it ran, else the next one. */
function representativeName(figures: ArenaRoundsResult['figures']): string {
  const ran = (pick: (f: ArenaRoundsResult['median']) => number | undefined): boolean =>
    figures.some((f) => pick(f) !== undefined);
  if (ran((f) => f.p3LatencyP99Ms)) return names.p3;
  if (ran((f) => f.p3SdkLatencyP99Ms)) return names['p3-sdk'];
  if (ran((f) => f.p3NoLogLatencyP99Ms)) return names['p3-nolog'];
  if (ran((f) => f.p3ClusterLatencyP99Ms)) return names['p3-cluster'];
  return names.raw;
}

/**
 * One round: its table. Several: the table of the median round (by P3 log on p99), then one line per round and
 * the verdicts on the medians, which are the figures to quote.
 */
export function formatRoundsReport(run: ArenaRoundsResult): string {
  const { rounds, figures, median: m } = run;
  if (rounds.length === 1) return formatReport(rounds[0] as ArenaBenchResult);
  const columns = roundColumns.filter(([, , value]) => figures.some((f) => value(f) !== '-'));
  const lines = [
    `median round (${run.representative + 1} of ${rounds.length}, by ${representativeName(figures)} latency p99):`,
    formatReport(rounds[run.representative] as ArenaBenchResult),
    '',
    `${rounds.length} rounds (the servers' order rotates by one each round; latencies in ms; "on" P3 log on, ` +
      `"off" P3 log off, "sdk" P3 driven by its SDK, "cl" P3 cluster, "hop" cluster p50 - P3 log on p50, "ticked" the ticked floor p99):`,
    'round'.padEnd(7) + columns.map(([name, width]) => name.padStart(width)).join(''),
  ];
  const row = (name: string, f: (typeof figures)[number]): string =>
    name.padEnd(7) + columns.map(([, width, value]) => value(f).padStart(width)).join('');
  figures.forEach((f, i) => lines.push(row(String(i + 1), f)));
  lines.push(row('median', m));
  figures.forEach((f, i) => {
    if (f.broken !== undefined) lines.push(`round ${i + 1} left out of the medians: ${f.broken}`);
  });
  lines.push('');
  if (m.cpuPerUpdateRatio !== undefined) {
    lines.push(
      `median CPU per delivered update, P3 log on / raw: ${fmt(m.cpuPerUpdateRatio, 2)}x (target <= 1.5x: ${run.p3MeetsCpu ? 'met' : 'MISSED'})` +
        (m.p3NoLogCpuPerUpdateRatio === undefined
          ? ''
          : `; log off / raw: ${fmt(m.p3NoLogCpuPerUpdateRatio, 2)}x`),
    );
  }
  if (m.logCpuCostRatio !== undefined) {
    lines.push(
      `median cost of the log (CPU per delivered update, log on / log off): ${fmt(m.logCpuCostRatio, 2)}x`,
    );
  }
  if (m.p3LatencyP99Ms !== undefined) {
    lines.push(
      `median P3 log on latency p99 ${fmt(m.p3LatencyP99Ms, 2)} ms vs target ${fmt(run.p99TargetMs, 1)} ms (1 tick + 5 ms): ` +
        (run.p3MeetsLatency ? 'met' : 'MISSED'),
    );
    if (m.tickedFloorP99Ms !== undefined) {
      lines.push(
        `median ticked floor p99 ${fmt(m.tickedFloorP99Ms, 2)} ms: P3 log on is ${fmt(m.p3LatencyP99Ms - m.tickedFloorP99Ms, 2)} ms above it`,
      );
    }
  }
  if (m.p3SdkLatencyP99Ms !== undefined) {
    lines.push(
      `median P3 SDK latency p99 ${fmt(m.p3SdkLatencyP99Ms, 2)} ms vs target ${fmt(run.p99TargetMs, 1)} ms: ` +
        `${run.p3SdkMeetsLatency ? 'met' : 'MISSED'}; CPU per delivered update P3 SDK / raw ${fmt(m.p3SdkCpuPerUpdateRatio, 2)}x; ` +
        `the SDK's load CPU ${fmt(m.p3SdkLoadCpuPercent, 1)} %`,
    );
  }
  if (m.p3ClusterLatencyP99Ms !== undefined) {
    lines.push(
      `median P3 cluster latency p50/p99 ${fmt(m.p3ClusterLatencyP50Ms, 2)}/${fmt(m.p3ClusterLatencyP99Ms, 2)} ms ` +
        `vs target ${fmt(run.p99TargetMs, 1)} ms: ${run.p3ClusterMeetsLatency ? 'met' : 'MISSED'}` +
        (m.natsHopLatencyP50Ms === undefined
          ? ''
          : `; NATS hop (p50 above P3 log on) ${signed(m.natsHopLatencyP50Ms)} ms; ` +
            `CPU per delivered update cluster / P3 log on ${fmt(m.clusterCpuPerUpdateRatio, 2)}x`),
    );
  }
  return lines.join('\n');
}

/**
 * The machine-readable line, everything unrounded: the median round's figures at the top level (the shape of one
 * round), then every round and the medians with their verdicts.
 */
export function formatRoundsJsonLine(run: ArenaRoundsResult): string {
  const { rounds, representative, ...summary } = run;
  return JSON.stringify({
    bench: 'arena',
    ...(rounds[representative] as ArenaBenchResult),
    rounds: rounds.map((r) => ({ ...r, options: undefined })),
    summary: { ...summary, representative },
  });
}
