import {
  BinaryCodec,
  CloseCode,
  JsonCodec,
  closeReason,
  type ServerCodec,
  type ServerMessage,
  type WelcomeMessage,
  type WireData,
} from '@p3/protocol';
import {
  timerScheduler,
  type Cancel,
  type RoomKey,
  type RoomOutput,
  type RoomService,
  type Scheduler,
} from '@p3/runtime';
import type { Logger } from 'pino';
import type { GatewayConfig } from './gateway-config.js';
import type { GatewayMetrics } from './gateway-metrics.js';
import type { SocketData } from './socket-data.js';
import type { TemplatedApp, WebSocket } from './uws.js';

type CodecName = 'json' | 'binary';

interface Member {
  readonly connectionId: string;
  readonly ws: WebSocket<SocketData>;
  readonly codec: CodecName;
  subscribed: boolean;
  /** Last frame id sent to this member (through the topic or a catch-up). */
  lastFrame: number;
  /** A catch-up was requested and not yet received. */
  catchingUp: boolean;
  /** Times the pending catch-up was asked for, and the timer that asks again (see RoomFanoutOptions). */
  catchUpAsks: number;
  catchUpTimer: Cancel | undefined;
}

export interface RoomFanoutOptions {
  /** Runs the catch-up timeouts. Default: Node timers. */
  readonly scheduler?: Scheduler;
  /**
   * A lagging member's catch-up not received this long after it was asked for (lost on the way, or the room was
   * busy reloading) is asked for again: the member gets no frame until it comes. Default 2000 ms.
   */
  readonly catchUpTimeoutMs?: number;
  /** Asks after which a member still without its catch-up is closed with 4005 (it reconnects). Default 3. */
  readonly catchUpAttempts?: number;
}

interface FanoutRoom {
  readonly key: RoomKey;
  readonly topics: Record<CodecName, string>;
  readonly codecs: Record<CodecName, ServerCodec>;
  readonly members: Map<string, Member>;
  readonly inUse: Record<CodecName, number>;
  lastFrame: number;
}

const jsonCodec = new JsonCodec();

/**
 * The gateway side of RoomOutput: one entry per room with members on this gateway. A broadcast is encoded once
 * per codec in use and published to that codec's uWS topic (one publish, many sockets). After each broadcast
 * every member's send buffer is checked: past the soft bound a member leaves the topic (it stops getting every
 * frame) and gets one coalesced catch-up delta once drained; past the hard bound it is closed (CloseCode.Backpressure).
 */
export class RoomFanout implements RoomOutput {
  private app: TemplatedApp | undefined;
  private rooms: RoomService | undefined;
  private readonly byKey = new Map<string, FanoutRoom>();
  private broadcasts = 0;

  constructor(
    private readonly config: GatewayConfig,
    private readonly metrics: GatewayMetrics,
    private readonly logger: Logger,
    private readonly options: RoomFanoutOptions = {},
  ) {}

  /** Called by the gateway once its app exists. Messages for rooms without members here are dropped. */
  attach(app: TemplatedApp, rooms: RoomService): void {
    this.app = app;
    this.rooms = rooms;
  }

  /**
   * Adds a member after a successful join: sends the welcome, then subscribes it to the room's frames. Returns
   * the codec that decodes the member's messages.
   */
  addMember(
    key: RoomKey,
    connectionId: string,
    ws: WebSocket<SocketData>,
    codec: CodecName,
    welcome: WelcomeMessage,
  ): ServerCodec {
    const room = this.roomFor(key, welcome);
    const previous = room.members.get(connectionId);
    if (previous) this.removeMember(key, connectionId);
    const member: Member = {
      connectionId,
      ws,
      codec,
      subscribed: false,
      lastFrame: welcome.frame,
      catchingUp: false,
      catchUpAsks: 0,
      catchUpTimer: undefined,
    };
    room.members.set(connectionId, member);
    room.inUse[codec]++;
    this.write(member, room.codecs[codec].encodeServer(welcome), 'welcome');
    this.subscribe(room, member);
    return room.codecs[codec];
  }

  removeMember(key: RoomKey, connectionId: string): void {
    const id = keyOf(key);
    const room = this.byKey.get(id);
    const member = room?.members.get(connectionId);
    if (!room || !member) return;
    member.catchUpTimer?.();
    member.catchUpTimer = undefined;
    room.members.delete(connectionId);
    room.inUse[member.codec]--;
    if (room.members.size === 0) this.byKey.delete(id);
  }

  broadcast(key: RoomKey, message: ServerMessage): void {
    const room = this.byKey.get(keyOf(key));
    const app = this.app;
    if (!room || !app) return;
    const started = performance.now();
    for (const codec of ['binary', 'json'] as const) {
      if (room.inUse[codec] === 0) continue;
      const data = room.codecs[codec].encodeServer(message);
      app.publish(room.topics[codec], data, typeof data !== 'string');
      this.metrics.countOut(message.type);
    }
    if (message.type === 'frame') {
      room.lastFrame = Math.max(room.lastFrame, message.frame.id);
      for (const member of room.members.values()) {
        if (member.subscribed) member.lastFrame = room.lastFrame;
      }
    }
    this.checkBackpressure(room);
    // Sampled: one observation in eight keeps the histogram's shape at an eighth of its cost on the hot path.
    if ((++this.broadcasts & 7) === 0)
      this.metrics.fanoutSeconds.observe((performance.now() - started) / 1000);
  }

  send(key: RoomKey, connectionId: string, message: ServerMessage): void {
    const room = this.byKey.get(keyOf(key));
    const member = room?.members.get(connectionId);
    if (!room || !member || member.ws.getUserData().closed) return;
    this.write(member, room.codecs[member.codec].encodeServer(message), message.type);
    if (message.type === 'catchup' && member.catchingUp) {
      member.catchingUp = false;
      member.catchUpTimer?.();
      member.catchUpTimer = undefined;
      member.lastFrame = Math.max(member.lastFrame, message.to);
      this.subscribe(room, member);
      this.metrics.backpressure.inc({ action: 'caught_up' });
    }
  }

  close(key: RoomKey, connectionId: string, code: number, reason: string): void {
    const member = this.byKey.get(keyOf(key))?.members.get(connectionId);
    if (!member) return;
    this.removeMember(key, connectionId);
    endSocket(member.ws, code, reason, this.metrics);
  }

  /** uWS `drain`: a lagging member that drained below the resume bound asks its room for a catch-up. */
  drained(key: RoomKey, connectionId: string): void {
    const room = this.byKey.get(keyOf(key));
    const member = room?.members.get(connectionId);
    if (!room || !member || member.subscribed || member.catchingUp) return;
    if (member.ws.getBufferedAmount() > this.config.backpressure.resumeBytes) return;
    member.catchingUp = true;
    member.catchUpAsks = 0;
    this.askCatchUp(room, member);
  }

  /** Asks the room for a lagging member's catch-up, and again after a timeout until it comes (or closes it). */
  private askCatchUp(room: FanoutRoom, member: Member): void {
    const { scheduler = timerScheduler, catchUpTimeoutMs = 2000, catchUpAttempts = 3 } = this.options;
    member.catchUpAsks++;
    member.catchUpTimer = scheduler.after(catchUpTimeoutMs, () => {
      member.catchUpTimer = undefined;
      if (!member.catchingUp || room.members.get(member.connectionId) !== member) return;
      if (member.catchUpAsks >= catchUpAttempts) {
        this.logger.warn(
          { room: room.key.room, connectionId: member.connectionId, asks: member.catchUpAsks },
          'closing a lagging client whose catch-up never came',
        );
        this.close(room.key, member.connectionId, CloseCode.Internal, 'catch-up not received; reconnect');
        return;
      }
      this.metrics.backpressure.inc({ action: 'catch_up_asked_again' });
      this.askCatchUp(room, member);
    });
    this.rooms?.receive(room.key, member.connectionId, { type: 'resync', frame: member.lastFrame });
  }

  /** Closes every socket of every room (drain on shutdown). */
  closeAll(code: number, reason: string): void {
    for (const room of [...this.byKey.values()]) {
      for (const [connectionId, member] of [...room.members]) {
        this.removeMember(room.key, connectionId);
        endSocket(member.ws, code, reason, this.metrics);
      }
    }
  }

  private roomFor(key: RoomKey, welcome: WelcomeMessage): FanoutRoom {
    const id = keyOf(key);
    let room = this.byKey.get(id);
    if (!room) {
      const base = `r/${key.tenant}/${key.room}`;
      room = {
        key,
        topics: { json: `${base}/json`, binary: `${base}/binary` },
        codecs: {
          json: jsonCodec,
          binary: new BinaryCodec(welcome.schema, {
            maxMessageBytes: this.config.maxMessageBytes,
            retainFrames: Math.max(120, welcome.bufferFrame * 4),
          }),
        },
        members: new Map(),
        inUse: { json: 0, binary: 0 },
        lastFrame: welcome.frame,
      };
      this.byKey.set(id, room);
    }
    return room;
  }

  private subscribe(room: FanoutRoom, member: Member): void {
    if (member.subscribed || member.ws.getUserData().closed) return;
    member.ws.subscribe(room.topics[member.codec]);
    member.subscribed = true;
  }

  private checkBackpressure(room: FanoutRoom): void {
    const { softBytes, hardBytes } = this.config.backpressure;
    // Runs after every broadcast: values() allocates no [key, value] pair per member.
    for (const member of room.members.values()) {
      const { connectionId } = member;
      const buffered = member.ws.getBufferedAmount();
      if (buffered > hardBytes) {
        this.logger.warn(
          { room: room.key.room, connectionId, buffered },
          'closing a client that cannot keep up',
        );
        this.metrics.backpressure.inc({ action: 'closed' });
        this.close(
          room.key,
          connectionId,
          CloseCode.Backpressure,
          'too slow: send buffer over the hard limit',
        );
      } else if (buffered > softBytes && member.subscribed) {
        member.ws.unsubscribe(room.topics[member.codec]);
        member.subscribed = false;
        this.metrics.backpressure.inc({ action: 'lagging' });
      }
    }
  }

  private write(member: Member, data: WireData, kind: string): void {
    const binary = typeof data !== 'string';
    // Sends from a timer (acks at tick time) are not corked by uWS: cork so each one is not a syscall of its own.
    member.ws.cork(() => member.ws.send(data, binary));
    this.metrics.countOut(kind);
    this.metrics.countBytesOut(member.codec, binary ? data.byteLength : Buffer.byteLength(data));
  }
}

/** Ends a socket once; uWS calls the close handler synchronously from `end`. */
export function endSocket(
  ws: WebSocket<SocketData>,
  code: number,
  reason: string,
  metrics: GatewayMetrics,
): void {
  const data = ws.getUserData();
  if (data.closed) return;
  metrics.closes.inc({ code: String(code) });
  ws.end(code, closeReason(reason));
}

function keyOf(key: RoomKey): string {
  return `${key.tenant}\u0000${key.room}`;
}
