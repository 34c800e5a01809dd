import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import {
  BinaryCodec,
  CloseCode,
  JsonCodec,
  PROTOCOL_VERSION,
  Subprotocol,
  closeReason,
  type Frame,
  type JoinMessage,
  type ServerCodec,
  type ServerMessage,
  type WireData,
} from '@p3/protocol';
import type { WorldDefinition } from '@p3/engine';
import {
  MemorySnapshotStore,
  RoomHost,
  systemClock,
  timerScheduler,
  type RoomKey,
  type TickedRoom,
} from '@p3/runtime';

/**
 * A test-only gateway: the real RoomHost behind a `ws` server on an ephemeral port. Codec per subprotocol (one
 * instance per room, as a gateway would: encode once, send to every member). To be replaced by services/gateway;
 * the client tests only ever see `{ host, port }`.
 */
export interface TestServer {
  readonly host: string;
  readonly port: number;
  readonly rooms: RoomHost;
  room(name: string): TickedRoom | undefined;
  /** Every frame a room simulated (corrections included), in order, sent or not (empty frames are not). */
  frames(room: string): Frame[];
  /** Every message broadcast in a room (frames and `idle` heartbeats), in order. */
  broadcasts(room: string): ServerMessage[];
  /** Join messages received (also those refused). */
  readonly joins: JoinMessage[];
  /** When true, acks are not sent (ops stay unacknowledged on the client). */
  dropAcks: boolean;
  /** The next n frames are not delivered to JSON members (a gap; binary members would lose directory entries). */
  skipFrames: number;
  /** Kills sockets server-side without a close handshake (the client sees 1006). */
  drop(connectionId?: string): void;
  closeAll(code: number, reason: string): void;
  /** Sends raw bytes or text to every joined socket. */
  sendRaw(data: WireData): void;
  close(): Promise<void>;
}

interface Member {
  readonly ws: WebSocket;
  readonly kind: 'json' | 'binary';
  readonly key: RoomKey;
}

export async function startTestServer(options: {
  world: WorldDefinition;
  tickRate?: number;
  bufferFrame?: number;
  refuse?: (join: JoinMessage) => { code: number; reason: string } | undefined;
  /** Heartbeat of rooms whose ticks change nothing (default 250 ms here, so tests wait less than the 1 s default). */
  idleHeartbeatMs?: number;
}): Promise<TestServer> {
  const members = new Map<string, Member>();
  const codecs = new Map<string, { json: ServerCodec; binary: ServerCodec }>();
  const frames = new Map<string, Frame[]>();
  const broadcasts = new Map<string, ServerMessage[]>();
  const codecOf = (key: RoomKey, kind: 'json' | 'binary'): ServerCodec => {
    let pair = codecs.get(key.room);
    if (!pair)
      codecs.set(key.room, (pair = { json: new JsonCodec(), binary: new BinaryCodec(options.world.schema) }));
    return pair[kind];
  };
  const rooms = new RoomHost({
    world: options.world,
    tickRate: options.tickRate ?? 20,
    bufferFrame: options.bufferFrame ?? 20,
    clock: systemClock,
    scheduler: timerScheduler,
    idleHeartbeatMs: options.idleHeartbeatMs ?? 250,
    store: new MemorySnapshotStore(),
    events: {
      frame: (room, frame, corrections) =>
        (frames.get(room.key.room) ?? frames.set(room.key.room, []).get(room.key.room)!).push(
          ...corrections,
          frame,
        ),
    },
    output: {
      broadcast(key, message) {
        (broadcasts.get(key.room) ?? broadcasts.set(key.room, []).get(key.room)!).push(message);
        const encoded = {
          json: codecOf(key, 'json').encodeServer(message),
          binary: codecOf(key, 'binary').encodeServer(message),
        };
        const skip = message.type === 'frame' && server.skipFrames > 0 && server.skipFrames-- > 0;
        for (const m of members.values())
          if (m.key.room === key.room && !(skip && m.kind === 'json')) m.ws.send(encoded[m.kind]);
      },
      send(key, connectionId, message) {
        const m = members.get(connectionId);
        if (m && !(server.dropAcks && message.type === 'ack'))
          m.ws.send(codecOf(key, m.kind).encodeServer(message));
      },
      close(_key, connectionId, code, reason) {
        members.get(connectionId)?.ws.close(code, closeReason(reason));
        members.delete(connectionId);
      },
    },
  });
  const handshakeProtocols = (offered: Set<string>) =>
    offered.has(Subprotocol.Binary)
      ? Subprotocol.Binary
      : offered.has(Subprotocol.Json)
        ? Subprotocol.Json
        : false;
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    path: '/v1/connect',
    handleProtocols: handshakeProtocols,
  });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));

  wss.on('connection', (ws) => {
    const kind = ws.protocol === Subprotocol.Binary ? 'binary' : 'json';
    let joined: { id: string; key: RoomKey } | undefined;
    let joining = false;
    const queue: WireData[] = [];
    const receive = (target: { id: string; key: RoomKey }, data: WireData) => {
      const decoded = codecOf(target.key, kind).decodeClient(data);
      if (!decoded.ok)
        return send(ws, target.key, kind, {
          type: 'error',
          code: decoded.error.code,
          reason: decoded.error.message,
        });
      rooms.receive(target.key, target.id, decoded.value);
    };
    ws.on('message', (raw: RawData, isBinary: boolean) => {
      const data = isBinary ? toBytes(raw) : toBytes(raw).toString();
      if (joined) return receive(joined, data);
      if (joining) return void queue.push(data);
      const first = (kind === 'binary' ? new BinaryCodec() : new JsonCodec()).decodeClient(data);
      if (!first.ok || first.value.type !== 'join') return ws.close(CloseCode.BadHandshake, 'join first');
      const join = first.value;
      server.joins.push(join);
      if (join.protocolVersion !== PROTOCOL_VERSION)
        return ws.close(CloseCode.ProtocolVersion, 'protocol version');
      const refusal = options.refuse?.(join);
      if (refusal) return ws.close(refusal.code, refusal.reason);
      joining = true;
      const key = { tenant: 'default', room: join.room };
      const resume = join.resumeFrame === undefined ? {} : { resumeFrame: join.resumeFrame };
      void rooms
        .join({ key, clientId: join.clientId, sessionStamp: join.sessionStamp, ...resume })
        .then((result) => {
          if (!result.ok) return ws.close(result.closeCode, closeReason(result.error.message));
          if (ws.readyState !== ws.OPEN) return rooms.leave(key, result.connectionId);
          // Register and welcome in the same turn: every frame broadcast after this goes to the member, none before.
          members.set(result.connectionId, { ws, kind, key });
          joined = { id: result.connectionId, key };
          send(ws, key, kind, result.welcome);
          for (const data of queue.splice(0)) receive(joined, data);
        });
    });
    ws.on('close', () => {
      if (!joined || members.get(joined.id)?.ws !== ws) return;
      members.delete(joined.id);
      rooms.leave(joined.key, joined.id);
    });
  });

  const send = (ws: WebSocket, key: RoomKey, kind: 'json' | 'binary', message: ServerMessage) =>
    ws.send(codecOf(key, kind).encodeServer(message));
  const port = (wss.address() as { port: number }).port;
  const server: TestServer = {
    host: '127.0.0.1',
    port,
    rooms,
    room: (name) => rooms.room({ tenant: 'default', room: name }),
    frames: (room) => frames.get(room) ?? [],
    broadcasts: (room) => broadcasts.get(room) ?? [],
    joins: [],
    dropAcks: false,
    skipFrames: 0,
    drop(connectionId) {
      for (const [id, m] of members) if (connectionId === undefined || id === connectionId) m.ws.terminate();
    },
    closeAll(code, reason) {
      for (const ws of wss.clients) ws.close(code, reason);
    },
    sendRaw(data) {
      for (const m of members.values()) m.ws.send(data);
    },
    async close() {
      for (const ws of wss.clients) ws.terminate();
      await rooms.close();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
  return server;
}

function toBytes(raw: RawData): Buffer {
  return Array.isArray(raw) ? Buffer.concat(raw) : Buffer.isBuffer(raw) ? raw : Buffer.from(raw);
}
