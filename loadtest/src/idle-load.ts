// One load process of the idle benchmark: --rooms rooms of --clients WebSocket clients from global room
// --room-offset on. Each client joins with the protocol's codecs (raw sockets, no SDK: nothing is sent after the
// join, not even pings) and then only counts what it receives. The orchestrator drives it with JSON lines on stdin:
// {"cmd":"measure-start"}, {"cmd":"measure-end"}; it answers {"event":"ready"} (all joined),
// {"event":"measure-start"}, {"event":"measure-end"}, then {"event":"summary", ...}.
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import {
  BinaryCodec,
  BinaryServerTag,
  JsonCodec,
  PROTOCOL_VERSION,
  Subprotocol,
  type JoinMessage,
} from '@p3/protocol';
import WebSocket, { type RawData } from 'ws';
import { Codec, intFlag, numberFlag, oneOf } from './bench-options.js';
import { emitLine, stdoutFlushed, stopWithParent } from './child-lifetime.js';
import { IdleCounts, type IdleLoadSummary } from './idle-counts.js';
import { ParentCommands } from './parent-commands.js';

const { values } = parseArgs({
  strict: true,
  options: {
    url: { type: 'string' },
    codec: { type: 'string' },
    rooms: { type: 'string' },
    'room-offset': { type: 'string' },
    clients: { type: 'string' },
    'run-id': { type: 'string' },
    lifetime: { type: 'string' },
  },
});
const problems: string[] = [];
const baseUrl = values.url ?? '';
if (!/^ws:\/\/127\.0\.0\.1:\d+$/.test(baseUrl))
  problems.push('--url must be ws://127.0.0.1:PORT (the bench targets the loopback only)');
const codec = oneOf(values.codec, 'codec', Object.values(Codec), Codec.Binary, problems);
const rooms = intFlag(values.rooms, 'rooms', 25, 1, 100_000, problems);
const roomOffset = intFlag(values['room-offset'], 'room-offset', 0, 0, 100_000, problems);
const clients = intFlag(values.clients, 'clients', 100, 1, 100_000, problems);
const lifetime = numberFlag(values.lifetime, 'lifetime', 600, 1, 86_400, problems);
const runId = values['run-id'] ?? Date.now().toString(36);
if (problems.length > 0) throw new Error(`bad arguments: ${problems.join('; ')}`);

/** Binary server tag -> message type (`Welcome` -> `welcome`), so the counts need no decoding. */
const tagNames = new Map<number, string>(
  Object.entries(BinaryServerTag).map(([name, tag]) => [tag, name.charAt(0).toLowerCase() + name.slice(1)]),
);
/** Encodes the joins (a join needs no codec state, so one codec serves every client). */
const joinCodec = codec === Codec.Binary ? new BinaryCodec() : new JsonCodec();
const counts = new IdleCounts();
const sockets: WebSocket[] = [];
let stopping = false;
stopWithParent(lifetime * 1000, () => {
  stopping = true;
  for (const ws of sockets) ws.terminate();
});

function typeOf(data: Buffer): string {
  if (codec === Codec.Binary) return tagNames.get(data[0] ?? -1) ?? 'other';
  // A JSON message's type is its first key's value: read it without parsing the message.
  const match = /^\{"type":"([a-zA-Z]+)"/.exec(data.subarray(0, 32).toString('latin1'));
  return match?.[1] ?? 'other';
}

/** Opens one client, joins, resolves on its welcome; afterwards it only counts. */
function openClient(room: number): Promise<void> {
  const protocol = codec === Codec.Binary ? Subprotocol.Binary : Subprotocol.Json;
  const ws = new WebSocket(`${baseUrl}/v1/connect`, [protocol], {
    perMessageDeflate: false,
    skipUTF8Validation: true,
    handshakeTimeout: 15_000,
  });
  ws.binaryType = 'nodebuffer';
  sockets.push(ws);
  const join: JoinMessage = {
    type: 'join',
    protocolVersion: PROTOCOL_VERSION,
    room: `idle-${runId}-${room}`,
    clientId: randomUUID(),
    sessionStamp: 1,
  };
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no welcome in room ${room} within 20 s`)), 20_000);
    ws.on('open', () => ws.send(joinCodec.encodeClient(join)));
    ws.on('message', (data: RawData) => {
      const bytes = Buffer.isBuffer(data)
        ? data
        : Array.isArray(data)
          ? Buffer.concat(data)
          : Buffer.from(data);
      const type = typeOf(bytes);
      counts.received(type, bytes.byteLength);
      if (type === 'welcome') {
        clearTimeout(timer);
        resolve();
      }
    });
    ws.on('error', (error) => reject(error));
    ws.on('close', (code, reason) => {
      if (stopping) return;
      counts.unexpectedCloses++;
      reject(new Error(`client in room ${room} closed: ${code} ${reason.toString()}`));
    });
  });
}

/** Opens every client, at most `parallel` handshakes at a time. */
async function openAll(parallel: number): Promise<void> {
  const total = rooms * clients;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < total) {
      const i = next++;
      await openClient(roomOffset + Math.floor(i / clients));
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, total) }, worker));
}

const commands = new ParentCommands();
const started = performance.now();
await openAll(32);
emitLine({
  event: 'ready',
  connections: rooms * clients,
  connectMs: Math.round(performance.now() - started),
});
await commands.next('measure-start');
const cpuStart = process.cpuUsage();
counts.begin();
emitLine({ event: 'measure-start' });
await commands.next('measure-end');
const window = counts.end();
const cpu = process.cpuUsage(cpuStart);
emitLine({ event: 'measure-end' });
const summary: IdleLoadSummary = {
  event: 'summary',
  connections: rooms * clients,
  ...window,
  cpuPercent: ((cpu.user + cpu.system) / 1000 / window.windowMs) * 100,
  unexpectedCloses: counts.unexpectedCloses,
};
emitLine(summary);
await stdoutFlushed();
stopping = true;
for (const ws of sockets) ws.close(1000, 'bench over');
setTimeout(() => process.exit(0), 200);
