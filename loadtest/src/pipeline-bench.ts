// `npm run bench:pipeline`: the arena workload (R rooms x C clients, one bot each moved at --send-hz, --tick-rate
// ticks) pushed through the server's own code in one process, without sockets: the gateway's binary decoding,
// the room host (sequence numbers, world submit, ticks, acks) and the fan-out's encoding, on a manual clock. Stub
// uWS objects stand in for the app and sockets. It measures the JavaScript work per delivered update that the
// arena benchmark's CPU figure holds along with the kernel's, with none of its noise (load process, scheduler,
// network stack), and reports it against the raw floor's JavaScript work in the same run: reading each message's
// sender (as the raw uWS server's subscribers would need nothing more) and publishing it to the room's topic.
// Each round measures P3 without a room log (as the arena's `p3-nolog`), P3 with a FileRoomLog in a fresh temp
// directory (every step's record written and fdatasync'ed, acks held until durable: the arena's `p3`), and the
// floor, and prints the log's cost: JavaScript CPU per delivered update with the log / without it.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { defineWorld } from '@p3/engine';
import {
  createFanout,
  defaultGatewayConfig,
  type SocketData,
  type TemplatedApp,
  type WebSocket,
} from '@p3/gateway';
import { BinaryCodec, PROTOCOL_VERSION, type ClientMessage, type ServerCodec } from '@p3/protocol';
import {
  FileRoomLog,
  ManualClock,
  ManualScheduler,
  MemorySnapshotStore,
  RoomHost,
  type FileRoomLogStats,
  type RoomLog,
  type RoomSession,
} from '@p3/runtime';
import pino from 'pino';
import { Registry } from 'prom-client';
import { arenaBenchSchema, BOT_TYPE, botPosition } from './arena-schema.js';
import { intFlag, numberFlag } from './bench-options.js';
import { parseCli, usageText } from './cli-usage.js';
import { botEntityId, readBinaryUpdate, type RawUpdate } from './raw-update-reader.js';

/** The defaults, named once for the parser and the usage text. */
const defaults = { rooms: 20, clients: 25, seconds: 10, sendHz: 20, tickRate: 30, rounds: 3 } as const;
const usage = usageText(
  'npm run bench:pipeline -- [flags]',
  "The arena workload pushed through the server's own code in one process, without sockets, on a manual clock:\n" +
    'JavaScript CPU per delivered update of P3 without a room log, with a FileRoomLog, and of the raw floor, and\n' +
    "the log's cost (with the log / without it).",
  [
    ['--rooms N', `rooms (default ${defaults.rooms})`],
    ['--clients N', `clients per room, each moving one bot (default ${defaults.clients})`],
    ['--seconds S', `simulated seconds of workload per measurement (default ${defaults.seconds})`],
    ['--send-hz N', `updates per second of each client (default ${defaults.sendHz})`],
    ['--tick-rate N', `room ticks per second (default ${defaults.tickRate})`],
    ['--rounds N', `rounds, each measuring all three (default ${defaults.rounds})`],
    ['-h, --help', 'print this text'],
  ],
);
const { rooms, clients, seconds, sendHz, tickRate, rounds } = parseCli(usage, () => {
  const { values } = parseArgs({
    strict: true,
    options: {
      rooms: { type: 'string' },
      clients: { type: 'string' },
      seconds: { type: 'string' },
      'send-hz': { type: 'string' },
      'tick-rate': { type: 'string' },
      rounds: { type: 'string' },
    },
  });
  const problems: string[] = [];
  const parsed = {
    rooms: intFlag(values.rooms, 'rooms', defaults.rooms, 1, 1000, problems),
    clients: intFlag(values.clients, 'clients', defaults.clients, 2, 1000, problems),
    seconds: numberFlag(values.seconds, 'seconds', defaults.seconds, 1, 600, problems),
    sendHz: numberFlag(values['send-hz'], 'send-hz', defaults.sendHz, 1, 240, problems),
    tickRate: intFlag(values['tick-rate'], 'tick-rate', defaults.tickRate, 1, 240, problems),
    rounds: intFlag(values.rounds, 'rounds', defaults.rounds, 1, 20, problems),
  };
  if (problems.length > 0) throw new Error(`bad arguments: ${problems.join('; ')}`);
  return parsed;
});

/** Publishes so far: P3 publishes one frame per room and tick that changed something (checked: real work). */
let published = 0;
/** uWS's app as the fan-out uses it: publishing to a topic, here to nobody. */
const stubApp = {
  publish: () => {
    published++;
    return true;
  },
} as unknown as TemplatedApp;

/** A uWS socket as the fan-out uses it; `sent` keeps what it was sent directly (welcome, acks). */
function stubSocket(): { ws: WebSocket<SocketData>; sent: Uint8Array[] } {
  const sent: Uint8Array[] = [];
  const data = { closed: false } as SocketData;
  const ws = {
    getUserData: () => data,
    cork(run: () => void) {
      run();
      return ws;
    },
    send(message: Uint8Array) {
      sent.push(message.slice());
      return 1;
    },
    getBufferedAmount: () => 0,
    subscribe: () => true,
    unsubscribe: () => true,
    end: () => undefined,
  };
  return { ws: ws as unknown as WebSocket<SocketData>, sent };
}

interface Client {
  readonly index: number;
  readonly entityId: string;
  readonly session: RoomSession;
  readonly decoder: ServerCodec;
  readonly codec: BinaryCodec;
  seq: number;
}

/** One timed message of the workload: client `client` sends `bytes` at `at` ms. */
interface Send {
  readonly at: number;
  readonly client: number;
  readonly bytes: Uint8Array;
}

async function setUp(log: RoomLog | undefined): Promise<{
  clock: ManualClock;
  scheduler: ManualScheduler;
  clientList: Client[];
  host: RoomHost;
}> {
  const clock = new ManualClock();
  const scheduler = new ManualScheduler(clock);
  const registry = new Registry();
  const logger = pino({ level: 'silent' });
  const { fanout } = createFanout(defaultGatewayConfig, registry, logger);
  const host = new RoomHost({
    world: defineWorld({ schema: arenaBenchSchema }),
    tickRate,
    bufferFrame: 10,
    clock,
    scheduler,
    store: new MemorySnapshotStore(),
    ...(log === undefined ? {} : { log }),
    ...(process.env.P3_LOG_INTERVAL_MS === undefined
      ? {}
      : { logIntervalMs: Number(process.env.P3_LOG_INTERVAL_MS) }),
    output: fanout,
    logger,
    wallClock: () => 0,
  });
  fanout.attach(stubApp, host);
  const clientList: Client[] = [];
  for (let i = 0; i < rooms * clients; i++) {
    const key = { tenant: 'bench', room: `arena-${Math.floor(i / clients)}` };
    const joined = await host.join({ key, clientId: randomUUID(), sessionStamp: 1 });
    if (!joined.ok) throw joined.error;
    const socket = stubSocket();
    const decoder = fanout.addMember(key, joined.connectionId, socket.ws, 'binary', joined.welcome);
    const codec = new BinaryCodec();
    for (const bytes of socket.sent) codec.decodeServer(bytes);
    const client: Client = {
      index: i,
      entityId: botEntityId(i),
      session: joined.session,
      decoder,
      codec,
      seq: 0,
    };
    clientList.push(client);
    receive(client, {
      type: 'ops',
      stamp: 1,
      seq: ++client.seq,
      ops: [{ op: 'create', entityId: client.entityId, typeName: BOT_TYPE, data: { x: 500, y: 500, t: 0 } }],
    });
  }
  scheduler.advance(200);
  return { clock, scheduler, clientList, host };
}

function receive(client: Client, message: ClientMessage): void {
  const decoded = client.decoder.decodeClient(client.codec.encodeClient(message) as Uint8Array);
  if (!decoded.ok) throw decoded.error;
  client.session.receive(decoded.value as Exclude<ClientMessage, { type: 'join' }>);
}

/**
 * Every send of the workload, in time order, encoded beforehand (encoding is the clients' work): client i moves
 * its bot every period, phases spread evenly over the period.
 */
function workload(
  clientCount: number,
  start: number,
  encode: (client: number, data: { x: number; y: number; t: number }) => Uint8Array,
): Send[] {
  const period = 1000 / sendHz;
  const position = { x: 0, y: 0 };
  const sends: Send[] = [];
  for (let k = 0; k < seconds * sendHz; k++) {
    for (let client = 0; client < clientCount; client++) {
      const at = start + k * period + (client * period) / clientCount;
      botPosition(client, at, position);
      sends.push({ at, client, bytes: encode(client, { x: position.x, y: position.y, t: at }) });
    }
  }
  return sends.sort((a, b) => a.at - b.at);
}

interface Measured {
  readonly cpuMs: number;
  readonly updates: number;
}

/** P3 with the log: what the log did while measured (syncs, and the records they made durable). */
interface MeasuredWithLog extends Measured {
  readonly syncs: number;
  readonly records: number;
}

/**
 * The file log flushes on real timers and async I/O, while the workload runs on the manual clock: the loop hands
 * the event loop a turn every this many simulated ms (in both P3 variants, so the turns cost both the same), so
 * records become durable, and acks go out, while the workload runs.
 */
const YIELD_EVERY_MS = 100;

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until the log has made durable what the set-up appended (joins and creations): no records for 25 ms. */
async function settle(log: FileRoomLog): Promise<void> {
  let records: number;
  do {
    records = log.stats.records;
    await sleep(25);
  } while (log.stats.records !== records);
}

function cpuMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

/** P3 without a room log (`dir` undefined), or with a FileRoomLog in `dir`. */
async function measureP3(dir: string | undefined): Promise<MeasuredWithLog> {
  const log = dir === undefined ? undefined : await FileRoomLog.open({ dir });
  const { clock, scheduler, clientList, host } = await setUp(log);
  const sends = workload(clientList.length, clock.now(), (i, data) => {
    const client = clientList[i] as Client;
    const ops = [{ op: 'update' as const, entityId: client.entityId, data }];
    return client.codec.encodeClient({ type: 'ops', stamp: 1, seq: ++client.seq, ops }) as Uint8Array;
  });
  if (log) await settle(log);
  const logBefore: FileRoomLogStats = log?.stats ?? { syncs: 0, records: 0, bytes: 0 };
  const start = clock.now();
  const publishedBefore = published;
  const started = cpuMs();
  let yieldedAt = start;
  for (const send of sends) {
    const wait = send.at - clock.now();
    if (wait > 0) scheduler.advance(wait);
    if (clock.now() - yieldedAt >= YIELD_EVERY_MS) {
      yieldedAt = clock.now();
      await yieldToEventLoop();
    }
    const client = clientList[send.client] as Client;
    const decoded = client.decoder.decodeClient(send.bytes);
    if (!decoded.ok) throw decoded.error;
    client.session.receive(decoded.value as Exclude<ClientMessage, { type: 'join' }>);
  }
  scheduler.advance(100);
  // Closing waits until every record appended is durable: the last writes and syncs are part of the cost.
  await log?.close();
  const spent = cpuMs() - started;
  const logAfter = log?.stats ?? logBefore;
  const ticks = Math.floor(((sends.at(-1)?.at ?? 0) + 100 - start) / (1000 / tickRate));
  // A tick in which no member of a room moved sends nothing ([IDLE-1]): with a few clients per room, some do not.
  if (published - publishedBefore < (rooms * (ticks - 1)) / 2)
    throw new Error(`P3 published ${published - publishedBefore} frames for ${rooms} rooms x ${ticks} ticks`);
  // With the log, a room appends a record at every tick where one of its members moved.
  const records = logAfter.records - logBefore.records;
  if (log && (records === 0 || logAfter.syncs === logBefore.syncs))
    throw new Error(`the room log made ${records} records durable for ${rooms} rooms x ${ticks} ticks`);
  // The log is closed: the rooms' last snapshots cannot truncate it, which only costs a (silent) log line.
  await host.close();
  // Each frame carries every bot that moved since the previous one; each member gets it, its own bot aside.
  const updates = sends.length * (clients - 1);
  return { cpuMs: spent, updates, syncs: logAfter.syncs - logBefore.syncs, records };
}

/** P3 with a FileRoomLog in a fresh temp directory, removed afterwards. */
async function measureP3WithLog(): Promise<MeasuredWithLog> {
  const dir = await mkdtemp(join(tmpdir(), 'p3-pipeline-'));
  try {
    return await measureP3(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The raw floor's JavaScript per message: read the sender and stamp, publish the bytes to the room's topic. */
function measureRaw(): Measured {
  const codecs = Array.from({ length: rooms * clients }, () => new BinaryCodec(arenaBenchSchema));
  const ids = codecs.map((_, i) => botEntityId(i));
  // Each client creates its bot first, as in the arena: its codec then sends typed updates, which the floor reads.
  codecs.forEach((codec, i) =>
    codec.encodeClient({
      type: 'ops',
      stamp: 1,
      seq: 1,
      ops: [{ op: 'create', entityId: ids[i] as string, typeName: BOT_TYPE, data: { x: 500, y: 500, t: 0 } }],
    }),
  );
  const seqs = new Array<number>(codecs.length).fill(1);
  const sends = workload(codecs.length, 0, (i, data) => {
    const ops = [{ op: 'update' as const, entityId: ids[i] as string, data }];
    const message = { type: 'ops' as const, stamp: 1, seq: ++seqs[i]!, ops };
    return (codecs[i] as BinaryCodec).encodeClient(message) as Uint8Array;
  });
  const topics = Array.from({ length: rooms }, (_, r) => `raw/${r}`);
  const update: RawUpdate = { sender: -1, t: 0 };
  const started = cpuMs();
  for (const send of sends) {
    const copy = new Uint8Array(send.bytes);
    if (!readBinaryUpdate(Buffer.from(copy.buffer, copy.byteOffset, copy.byteLength), update))
      throw new Error('the raw floor could not read an update: the workload is not what the arena sends');
    stubApp.publish(topics[Math.floor(send.client / clients)] as string, copy, true);
  }
  const spent = cpuMs() - started;
  return { cpuMs: spent, updates: sends.length * (clients - 1) };
}

const perUpdate = (m: Measured): number => (m.cpuMs * 1000) / m.updates;
const results: Array<{ p3: Measured; p3Log: MeasuredWithLog; raw: Measured }> = [];
for (let round = 0; round < rounds; round++) {
  const raw = measureRaw();
  // The two P3 variants take turns going first: the first one of a round warms code the second also runs.
  let p3: Measured;
  let p3Log: MeasuredWithLog;
  if (round % 2 === 0) {
    p3 = await measureP3(undefined);
    p3Log = await measureP3WithLog();
  } else {
    p3Log = await measureP3WithLog();
    p3 = await measureP3(undefined);
  }
  results.push({ p3, p3Log, raw });
  console.log(
    `round ${round + 1}: P3 log off ${perUpdate(p3).toFixed(3)} us/update (${p3.cpuMs.toFixed(0)} ms CPU), ` +
      `P3 log on ${perUpdate(p3Log).toFixed(3)} us/update (${p3Log.cpuMs.toFixed(0)} ms CPU, ${p3Log.syncs} syncs, ` +
      `${(p3Log.records / p3Log.syncs).toFixed(1)} records/sync), raw floor JS ${perUpdate(raw).toFixed(3)} us/update; ` +
      `log on / log off ${(perUpdate(p3Log) / perUpdate(p3)).toFixed(2)}x, P3 log off / raw JS ${(perUpdate(p3) / perUpdate(raw)).toFixed(1)}x`,
  );
}
// Each figure's best round (warm JIT code, least disturbed).
const best = <T extends Measured>(pick: (r: (typeof results)[number]) => T): T =>
  results.map(pick).reduce((a, b) => (b.cpuMs < a.cpuMs ? b : a));
const bestP3 = best((r) => r.p3);
const bestLog = best((r) => r.p3Log);
const bestRaw = best((r) => r.raw);
console.log(
  `best rounds: P3 log off ${perUpdate(bestP3).toFixed(3)}, P3 log on ${perUpdate(bestLog).toFixed(3)}, raw floor JS ` +
    `${perUpdate(bestRaw).toFixed(3)} us/update; the log costs ${(perUpdate(bestLog) / perUpdate(bestP3)).toFixed(2)}x ` +
    `(${bestLog.syncs} syncs, ${(bestLog.records / bestLog.syncs).toFixed(1)} records per sync)`,
);
console.log(
  JSON.stringify({
    bench: 'pipeline',
    rooms,
    clients,
    seconds,
    sendHz,
    tickRate,
    protocolVersion: PROTOCOL_VERSION,
    bestP3MicrosPerUpdate: perUpdate(bestP3),
    bestP3LogMicrosPerUpdate: perUpdate(bestLog),
    rawMicrosPerUpdate: perUpdate(bestRaw),
    logCostRatio: perUpdate(bestLog) / perUpdate(bestP3),
    logSyncs: bestLog.syncs,
    logRecords: bestLog.records,
    logRecordsPerSync: bestLog.records / bestLog.syncs,
  }),
);
