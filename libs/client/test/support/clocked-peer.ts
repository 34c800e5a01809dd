import { Latches } from './latch.js';
import { WebSocketServer, type RawData } from 'ws';
import {
  JsonCodec,
  PROTOCOL_VERSION,
  Subprotocol,
  toWireSchema,
  type ClientMessage,
  type OpsMessage,
} from '@p3/protocol';
import type { WorldDefinition } from '@p3/engine';

/** An `ops` message as the peer handled it: at `time` on its room clock (after the link's latency). */
export interface ArrivedOps {
  readonly message: OpsMessage;
  /** Room time (ms) when it was handled. */
  readonly time: number;
  /** Local clock (performance.now) when it was handled. */
  readonly at: number;
}

/**
 * A P3 peer with a room clock and nothing else: it welcomes a join (the room has run for `startMs`, at
 * `tickRate`), answers pings with its room time as a room does, and records `ops` messages with the room time at
 * which it handled them. Every client message reaches it `latencyMs` late (a link's way up; the way down is
 * instant), so what a client stamps can be checked against when it arrived. No frames, no acks.
 */
export interface ClockedPeer {
  readonly host: string;
  readonly port: number;
  readonly tickRate: number;
  readonly ops: readonly ArrivedOps[];
  /** Room time now (ms). */
  time(): number;
  /** Resolves once `accept(ops)` holds (checked after every ops message). */
  until(accept: (ops: readonly ArrivedOps[]) => boolean, what: string, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startClockedPeer(options: {
  world: WorldDefinition;
  tickRate: number;
  latencyMs?: number;
  startMs?: number;
}): Promise<ClockedPeer> {
  const codec = new JsonCodec();
  const latencyMs = options.latencyMs ?? 0;
  const epoch = performance.now() - (options.startMs ?? 10_000);
  const time = () => performance.now() - epoch;
  const interval = 1000 / options.tickRate;
  const ops: ArrivedOps[] = [];
  const latches = new Latches(ops, () => `${ops.length} ops messages`);
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    path: '/v1/connect',
    handleProtocols: (offered) => (offered.has(Subprotocol.Json) ? Subprotocol.Json : false),
  });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  wss.on('connection', (ws) => {
    const handle = (message: ClientMessage) => {
      const now = time();
      switch (message.type) {
        case 'join':
          ws.send(
            codec.encodeServer({
              type: 'welcome',
              protocolVersion: PROTOCOL_VERSION,
              connectionId: 'peer-connection',
              room: message.room,
              schema: toWireSchema(options.world.schema),
              tickRate: options.tickRate,
              bufferFrame: 20,
              frame: Math.floor(now / interval),
              serverTime: now,
              lastSeq: 0,
              delta: false,
              entities: [],
              removed: [],
            }),
          );
          return;
        case 'ping':
          ws.send(
            codec.encodeServer({
              type: 'pong',
              id: message.id,
              clientTime: message.clientTime,
              serverTime: now,
              frame: Math.floor(now / interval),
            }),
          );
          return;
        case 'ops':
          ops.push({ message, time: now, at: performance.now() });
          latches.changed();
          return;
        default:
          return;
      }
    };
    ws.on('message', (raw: RawData) => {
      const decoded = codec.decodeClient(toBuffer(raw).toString('utf8'));
      if (!decoded.ok) return;
      if (latencyMs === 0) handle(decoded.value);
      else setTimeout(() => handle(decoded.value), latencyMs);
    });
  });
  return {
    host: '127.0.0.1',
    port: (wss.address() as { port: number }).port,
    tickRate: options.tickRate,
    ops,
    time,
    until: (accept, what, timeoutMs) => latches.until(accept, what, timeoutMs),
    async close() {
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

function toBuffer(raw: RawData): Buffer {
  return Array.isArray(raw) ? Buffer.concat(raw) : Buffer.isBuffer(raw) ? raw : Buffer.from(raw);
}
