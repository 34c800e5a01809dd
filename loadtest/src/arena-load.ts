// One load process of the arena benchmark (never inside the server process): --rooms rooms of --clients WebSocket
// clients from global room --room-offset on, each client moving one bot at --send-hz, against a P3 server
// (--target p3 or p3-nolog: protocol-level clients; --target p3-sdk: the P3Client SDK), the P3 cluster (--target
// p3-cluster: protocol-level clients), the raw uWS floor (--target raw) or Colyseus with its SDK (--target
// colyseus; see load-clients.ts). --url is one server URL, or a comma-separated list of them (the cluster's
// gateways): the clients of every room then alternate over the URLs (a room's first client on the first URL, its
// second on the second...), so each room has members on every gateway. The orchestrator may run several, each
// with its own rooms, so a room's sender and receivers always share this process's clock. It drives the run with
// JSON lines on stdin (load-run.ts: ready, start, the window, then the summary). Stops by itself: after the run,
// with its parent (stdin ends), or after --lifetime seconds.
import { parseArgs } from 'node:util';
import { Codec, intFlag, numberFlag, oneOf, serverKindOrder, type ServerKind } from './bench-options.js';
import { HeapAllocationMeter } from './heap-allocations.js';
import { makeLoadClients } from './load-clients.js';
import { LoadRun } from './load-run.js';
import { LoadStats } from './load-stats.js';
import { assertRawReaders } from './raw-update-reader.js';
import type { LoadProcessSummary } from './load-summary.js';

const { values } = parseArgs({
  strict: true,
  options: {
    url: { type: 'string' },
    target: { type: 'string' },
    codec: { type: 'string' },
    rooms: { type: 'string' },
    'room-offset': { type: 'string' },
    clients: { type: 'string' },
    'send-hz': { type: 'string' },
    'run-id': { type: 'string' },
    lifetime: { type: 'string' },
  },
});
const problems: string[] = [];
const baseUrls = (values.url ?? '').split(',');
if (!baseUrls.every((url) => /^ws:\/\/127\.0\.0\.1:\d+$/.test(url)))
  problems.push(
    '--url must be ws://127.0.0.1:PORT[,ws://127.0.0.1:PORT...] (the bench targets the loopback only)',
  );
const target: ServerKind = oneOf(values.target, 'target', serverKindOrder, 'p3', problems);
const codec = oneOf(values.codec, 'codec', Object.values(Codec), Codec.Binary, problems);
const rooms = intFlag(values.rooms, 'rooms', 20, 1, 10_000, problems);
const roomOffset = intFlag(values['room-offset'], 'room-offset', 0, 0, 10_000, problems);
const clients = intFlag(values.clients, 'clients', 25, 2, 10_000, problems);
// Bot ids carry the global client index in 8 hex digits (raw-update-reader.ts).
if ((roomOffset + rooms) * clients > 0xffff_ffff)
  problems.push('(--room-offset + --rooms) x --clients must stay below 2^32');
const sendHz = numberFlag(values['send-hz'], 'send-hz', 20, 1, 240, problems);
const lifetime = numberFlag(values.lifetime, 'lifetime', 300, 1, 86_400, problems);
const runId = values['run-id'] ?? Date.now().toString(36);
if (problems.length > 0) throw new Error(`bad arguments: ${problems.join('; ')}`);

assertRawReaders(codec);
const total = rooms * clients;
// Global client indexes, so bot ids and room names never collide with another load process's.
const firstIndex = roomOffset * clients;
const stats = new LoadStats(rooms, clients, roomOffset);
const connections = await makeLoadClients({
  target,
  codec,
  baseUrls,
  clientsPerRoom: clients,
  firstIndex,
  count: total,
  roomName: (room) => `arena-${runId}-${room}`,
  stats,
});
const run = new LoadRun(connections, connections, sendHz, lifetime * 1000);
await run.connect(15_000);
const heap = new HeapAllocationMeter();
const { figures, counted: allocations } = await run.window({
  begin() {
    heap.start();
    stats.begin();
  },
  end() {
    stats.end();
    return heap.stop();
  },
});
// The window's last sends are acked up to a second later (P3 batches acks per member): wait for them, so that the
// ack latency does not leave out the window's end. Sending has stopped; the server still sends what is due. Only
// protocol-level P3 clients await acks (the raw floor sends none, the SDKs keep theirs to themselves): for the
// others this returns at once.
await stats.whenAcked(3_000);

const counts = stats.counts();
const { windowMs } = figures;
const windowSeconds = windowMs / 1000;
const summary: LoadProcessSummary = {
  event: 'summary',
  target,
  codec,
  rooms,
  roomOffset,
  clients,
  connections: total,
  windowMs,
  updates: counts.updates,
  updatesPerSecond: counts.updates / windowSeconds,
  selfUpdatesPerSecond: counts.selfUpdates / windowSeconds,
  bytesPerClientPerSecond: counts.bytes / total / windowSeconds,
  messagesPerClientPerSecond: counts.messages / total / windowSeconds,
  sentPerSecond: counts.sent / windowSeconds,
  latencyMs: counts.latency,
  latencyHistogram: counts.latencyHistogram,
  acksAwaited: counts.acksAwaited,
  ackLatencyMs: counts.ackLatency,
  ackLatencyHistogram: counts.ackLatencyHistogram,
  pairsSeen: counts.pairsSeen,
  pairsExpected: counts.pairsExpected,
  acks: stats.acks,
  rejects: stats.rejects,
  errors: stats.errors,
  catchups: stats.catchups,
  decodeErrors: stats.decodeErrors,
  unexpectedCloses: stats.unexpectedCloses,
  loadLoopDelayP99Ms: figures.loopDelayP99Ms,
  sendLagMaxMs: figures.sendLagMaxMs,
  receivedMessages: counts.messages,
  heapAllocatedBytes: allocations.allocatedBytes,
  gcCount: allocations.gcCount,
  gcPauseMs: allocations.gcPauseMs,
};
await run.finish(summary);
