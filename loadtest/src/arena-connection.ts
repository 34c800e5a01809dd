import { randomUUID } from 'node:crypto';
import {
  BinaryCodec,
  JsonCodec,
  PROTOCOL_VERSION,
  Subprotocol,
  type ClientMessage,
  type EntityUpdate,
  type ServerMessage,
} from '@p3/protocol';
import WebSocket, { type RawData } from 'ws';
import { AckTimes } from './ack-times.js';
import { arenaBenchSchema, BOT_TYPE, botPosition } from './arena-schema.js';
import { measuresAcks, type Codec, type ServerKind } from './bench-options.js';
import type { LoadStats } from './load-stats.js';
import { botEntityId, readBinaryUpdate, readJsonUpdate, type RawUpdate } from './raw-update-reader.js';

/** What every connection of one load process shares. */
export interface ArenaLoadContext {
  readonly target: ServerKind;
  readonly codec: Codec;
  /** `ws://127.0.0.1:PORT` */
  readonly baseUrl: string;
  /** The raw floor only: a peer's room is its index over this. */
  readonly clientsPerRoom: number;
  /**
   * Name of a global room index. Unique per run, so a reused server never mixes two runs; global, so two load
   * processes of one run share a room only where meant to (the scale bench's wide room; never in the arena bench).
   */
  readonly roomName: (room: number) => string;
  /** Bot entity id -> client index, for the senders of this load process (their stamps share its clock). */
  readonly senders: ReadonlyMap<string, number>;
  readonly stats: LoadStats;
}

/** A sender joins, creates its bot and moves it on `sendUpdate`; a listener joins and only receives. */
export type ConnectionRole = 'sender' | 'listener';

/** The reused `ops` message of one client: only seq and the field values change between sends. */
interface MutableUpdateMessage {
  readonly type: 'ops';
  readonly stamp: number;
  seq: number;
  readonly ops: [
    { readonly op: 'update'; readonly entityId: string; readonly data: { x: number; y: number; t: number } },
  ];
}

const SESSION_STAMP = 1;

/**
 * One benchmark client: a WebSocket speaking the P3 protocol through `@p3/protocol` codecs (one codec per
 * connection, as a real client). Against P3 it joins, creates its bot and then updates it (a listener only joins:
 * the scale bench's wide rooms are mostly listeners); against the raw floor it sends the same bytes (the create,
 * then the updates) and reads the sender and stamp of what its peers sent, which the raw server forwards untouched
 * (`raw-update-reader.ts`).
 */
export class ArenaConnection {
  /** Its bot's id (a listener creates no bot). */
  readonly entityId: string;
  private readonly sends: boolean;
  private frameCount = 0;
  private readonly codec: BinaryCodec | JsonCodec;
  private readonly message: MutableUpdateMessage;
  private readonly position = { x: 0, y: 0 };
  private readonly rawUpdate: RawUpdate = { sender: -1, t: 0 };
  /**
   * Senders against P3 only (the floor sends no acks): when each update was sent, until an ack covers it. A
   * listener never sends, so it is spared the ring's 8 KiB (the scale bench runs thousands).
   */
  private readonly ackTimes: AckTimes | undefined;
  private readonly ackSample = (ms: number): void => this.ctx.stats.acked(ms);
  private ws: WebSocket | undefined;
  private seq = 0;
  private stopping = false;
  private ready: { resolve: () => void; reject: (error: Error) => void } | undefined;

  constructor(
    /** Index of the client: global in the arena bench, within its load process in the scale bench. */
    readonly index: number,
    /** Global index of the room it joins (named by `ctx.roomName`). */
    readonly room: number,
    private readonly ctx: ArenaLoadContext,
    role: ConnectionRole = 'sender',
  ) {
    this.entityId = botEntityId(index);
    this.sends = role === 'sender';
    const raw = ctx.target === 'raw';
    this.ackTimes = this.sends && measuresAcks(ctx.target) ? new AckTimes() : undefined;
    // Against P3 the codec learns the schema from `welcome`; the raw floor has no welcome, so it is given here.
    this.codec = ctx.codec === 'binary' ? new BinaryCodec(raw ? arenaBenchSchema : {}) : new JsonCodec();
    this.message = {
      type: 'ops',
      stamp: SESSION_STAMP,
      seq: 0,
      ops: [{ op: 'update', entityId: this.entityId, data: { x: 0, y: 0, t: 0 } }],
    };
  }

  /** Frames received since the socket opened: the scale bench takes each member's over its window. */
  get frames(): number {
    return this.frameCount;
  }

  /** Connects, joins (P3) and creates the bot; resolves once updates may flow (a listener: once welcomed). */
  open(timeoutMs: number): Promise<void> {
    const { ctx } = this;
    const room = encodeURIComponent(ctx.roomName(this.room));
    const url = ctx.target === 'raw' ? `${ctx.baseUrl}/raw?room=${room}` : `${ctx.baseUrl}/v1/connect`;
    const protocol = ctx.codec === 'binary' ? Subprotocol.Binary : Subprotocol.Json;
    const ws = new WebSocket(url, [protocol], {
      perMessageDeflate: false,
      skipUTF8Validation: true,
      handshakeTimeout: timeoutMs,
    });
    ws.binaryType = 'nodebuffer';
    this.ws = ws;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`client ${this.index} not ready within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.ready = {
        resolve: () => {
          clearTimeout(timer);
          this.ready = undefined;
          resolve();
        },
        reject: (error) => {
          clearTimeout(timer);
          this.ready = undefined;
          reject(error);
        },
      };
      ws.on('open', () => this.opened());
      ws.on('message', (data: RawData) => this.received(data));
      ws.on('error', (error) => this.ready?.reject(error));
      ws.on('close', (code, reason) => {
        if (this.stopping) return;
        this.ctx.stats.unexpectedCloses++;
        this.ready?.reject(new Error(`client ${this.index} closed: ${code} ${reason.toString()}`));
      });
    });
  }

  /** Sends one position update stamped with `now` (the caller's `performance.now()`); a listener sends nothing. */
  sendUpdate(now: number): void {
    const ws = this.ws;
    if (!this.sends || !ws || ws.readyState !== WebSocket.OPEN) return;
    const data = this.message.ops[0].data;
    botPosition(this.index, now, this.position);
    data.x = this.position.x;
    data.y = this.position.y;
    data.t = now;
    this.message.seq = ++this.seq;
    ws.send(this.codec.encodeClient(this.message));
    const { stats } = this.ctx;
    stats.sentOne();
    if (this.ackTimes !== undefined) {
      this.ackTimes.sent(this.seq, now, stats.measuring);
      if (stats.measuring) stats.acksAwaited++;
    }
  }

  close(): void {
    this.stopping = true;
    this.ws?.close(1000, 'bench over');
  }

  /** Ends the socket without a closing handshake (when the run is over and the server may already be gone). */
  terminate(): void {
    this.stopping = true;
    this.ws?.terminate();
  }

  private opened(): void {
    if (this.ctx.target !== 'raw') {
      this.send({
        type: 'join',
        protocolVersion: PROTOCOL_VERSION,
        room: this.ctx.roomName(this.room),
        clientId: randomUUID(),
        sessionStamp: SESSION_STAMP,
      });
      return;
    }
    // The raw floor forwards the create like any message (peers ignore it); it also teaches the codec the bot's type.
    this.sendCreate();
    this.ready?.resolve();
  }

  private sendCreate(): void {
    botPosition(this.index, performance.now(), this.position);
    const data = { x: this.position.x, y: this.position.y, t: performance.now() };
    this.send({
      type: 'ops',
      stamp: SESSION_STAMP,
      seq: ++this.seq,
      ops: [{ op: 'create', entityId: this.entityId, typeName: BOT_TYPE, data }],
    });
  }

  private send(message: ClientMessage): void {
    this.ws?.send(this.codec.encodeClient(message));
  }

  private received(data: RawData): void {
    const bytes = Buffer.isBuffer(data)
      ? data
      : Array.isArray(data)
        ? Buffer.concat(data)
        : Buffer.from(data);
    const now = performance.now();
    const { stats } = this.ctx;
    stats.received(bytes.byteLength);
    if (this.ctx.target === 'raw') {
      this.receivedRaw(bytes, now);
      return;
    }
    const decoded = this.codec.decodeServer(bytes);
    if (!decoded.ok) {
      stats.decodeErrors++;
      return;
    }
    this.handle(decoded.value, now);
  }

  private handle(message: ServerMessage, now: number): void {
    const { stats } = this.ctx;
    switch (message.type) {
      case 'frame':
        this.frameCount++;
        this.updates(message.frame.entities, now);
        return;
      case 'catchup':
        stats.catchups++;
        this.updates(message.entities, now);
        return;
      case 'ack':
        stats.acks++;
        if (message.stamp === SESSION_STAMP) this.ackTimes?.acked(message.seq, now, this.ackSample);
        return;
      case 'welcome':
        if (this.sends) this.sendCreate();
        else this.ready?.resolve();
        return;
      case 'reject':
        stats.rejects++;
        this.ready?.reject(
          new Error(`client ${this.index}: op ${message.seq} rejected: ${message.code} ${message.reason}`),
        );
        return;
      case 'error':
        stats.errors++;
        this.ready?.reject(new Error(`client ${this.index}: ${message.code} ${message.reason}`));
        return;
      case 'pong':
        return;
    }
  }

  private updates(entities: readonly EntityUpdate[], now: number): void {
    const { senders, stats } = this.ctx;
    for (let i = 0; i < entities.length; i++) {
      const update = entities[i] as EntityUpdate;
      const t = update.fields?.t;
      if (typeof t !== 'number') continue;
      const sender = senders.get(update.id);
      if (sender === undefined) {
        stats.foreignUpdate();
        continue;
      }
      if (sender === this.index && update.created === true) this.ready?.resolve();
      stats.update(this.index, sender, now, t);
    }
  }

  /** The raw floor forwards client messages untouched: read the sender and stamp of each peer update. */
  private receivedRaw(bytes: Buffer, now: number): void {
    const { stats, clientsPerRoom } = this.ctx;
    const update = this.rawUpdate;
    const ok = this.ctx.codec === 'binary' ? readBinaryUpdate(bytes, update) : readJsonUpdate(bytes, update);
    if (!ok) {
      // The creates sent before the first update are forwarded too; inside the window only updates may arrive.
      if (stats.measuring) stats.decodeErrors++;
      return;
    }
    if (Math.floor(update.sender / clientsPerRoom) !== this.room) {
      stats.decodeErrors++;
      return;
    }
    stats.update(this.index, update.sender, now, update.t);
  }
}
