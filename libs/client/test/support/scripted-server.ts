import { Latches } from './latch.js';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { JsonCodec, Subprotocol, type ClientMessage, type ServerMessage } from '@p3/protocol';

/**
 * A P3 peer the test drives by hand: a bare `ws` server on an ephemeral port that speaks the JSON codec
 * (`p3.json`), records every client message per socket and sends only what the test tells it to. No room, no
 * ticks, no acks: timing and content are the test's.
 */
export interface ScriptedServer {
  readonly host: string;
  readonly port: number;
  /** Resolves with the next socket a client opens (sockets already opened are handed out in order). */
  nextSocket(timeoutMs?: number): Promise<ScriptedSocket>;
  close(): Promise<void>;
}

export interface ScriptedSocket {
  /** Client messages received on this socket, in arrival order. */
  readonly received: readonly ClientMessage[];
  /** Client messages that failed to decode (should stay empty). */
  readonly undecodable: readonly string[];
  /** Resolves once `accept(received)` holds (checked now and after every message): a latch on messages. */
  until(
    accept: (received: readonly ClientMessage[]) => boolean,
    what: string,
    timeoutMs?: number,
  ): Promise<void>;
  send(message: ServerMessage): void;
  /** Kills the socket without a close handshake (the client sees 1006). */
  drop(): void;
}

export async function startScriptedServer(): Promise<ScriptedServer> {
  const codec = new JsonCodec();
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    path: '/v1/connect',
    handleProtocols: (offered) => (offered.has(Subprotocol.Json) ? Subprotocol.Json : false),
  });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));

  const opened: ScriptedSocket[] = [];
  const waiting: Array<(socket: ScriptedSocket) => void> = [];
  wss.on('connection', (ws) => {
    const socket = scripted(ws, codec);
    const waiter = waiting.shift();
    if (waiter) waiter(socket);
    else opened.push(socket);
  });

  return {
    host: '127.0.0.1',
    port: (wss.address() as { port: number }).port,
    nextSocket(timeoutMs = 8000) {
      const ready = opened.shift();
      if (ready) return Promise.resolve(ready);
      return new Promise<ScriptedSocket>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting.splice(waiting.indexOf(take), 1);
          reject(new Error('timed out waiting for the client to open a socket'));
        }, timeoutMs);
        const take = (socket: ScriptedSocket) => {
          clearTimeout(timer);
          resolve(socket);
        };
        waiting.push(take);
      });
    },
    async close() {
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

function scripted(ws: WebSocket, codec: JsonCodec): ScriptedSocket {
  const received: ClientMessage[] = [];
  const undecodable: string[] = [];
  const latches = new Latches(received, () => `received ${JSON.stringify(received)}`);
  ws.on('message', (raw: RawData) => {
    const text = toBuffer(raw).toString('utf8');
    const decoded = codec.decodeClient(text);
    if (decoded.ok) received.push(decoded.value);
    else undecodable.push(text);
    latches.changed();
  });
  return {
    received,
    undecodable,
    until: (accept, what, timeoutMs) => latches.until(accept, what, timeoutMs),
    send: (message) => ws.send(codec.encodeServer(message)),
    drop: () => ws.terminate(),
  };
}

function toBuffer(raw: RawData): Buffer {
  return Array.isArray(raw) ? Buffer.concat(raw) : Buffer.isBuffer(raw) ? raw : Buffer.from(raw);
}
