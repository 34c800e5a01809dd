import {
  BinaryCodec,
  CloseCode,
  ErrorCode,
  JsonCodec,
  PROTOCOL_VERSION,
  type ClientMessage,
  type ErrorMessage,
  type JoinMessage,
  P3Error,
} from '@p3/protocol';
import { scopedRoomKey, type Clock, type RoomKey, type RoomService } from '@p3/runtime';
import type { Logger } from 'pino';
import type { Authenticator } from './auth.js';
import type { GatewayConfig } from './gateway-config.js';
import type { GatewayMetrics } from './gateway-metrics.js';
import { roomBudgetKey } from './inbound-limits.js';
import { endSocket, type RoomFanout } from './room-fanout.js';
import type { SocketData } from './socket-data.js';
import type { WebSocket } from './uws.js';

const handshakeCodecs = { json: new JsonCodec(), binary: new BinaryCodec() } as const;
/** Messages kept while a join is in flight; more are refused (NOT_JOINED) like any message before a join. */
const maxEarlyMessages = 256;

export interface SessionDeps {
  readonly config: GatewayConfig;
  readonly rooms: RoomService;
  readonly fanout: RoomFanout;
  readonly auth: Authenticator;
  readonly metrics: GatewayMetrics;
  readonly logger: Logger;
  readonly clock: Clock;
}

/**
 * The protocol of one `/v1/connect` socket: rate limits (messages, bytes of the socket and of its room) and size
 * limit first (cheap, before decoding), then decode with the socket's codec, then `join` once or forward to the
 * room (`resync` only within its own rate). Every refusal is an `error` message with a stable code; only handshake
 * failures, protocol version mismatches, sustained floods (4107) and sockets that keep sending refused messages
 * (4106) are closed.
 */
export class ClientSessions {
  constructor(private readonly deps: SessionDeps) {}

  message(ws: WebSocket<SocketData>, bytes: Uint8Array): void {
    const data = ws.getUserData();
    const { config, metrics } = this.deps;
    metrics.countBytesIn(bytes.byteLength);
    if (bytes.byteLength > config.maxPayloadBytes) {
      // Past the payload cap (uWS lets through up to twice it, then drops the connection without a close frame).
      endSocket(
        ws,
        CloseCode.MessageTooBig,
        `message of ${bytes.byteLength} bytes exceeds the payload cap of ${config.maxPayloadBytes}`,
        metrics,
      );
      return;
    }
    const refusal = data.limits.admit(bytes.byteLength);
    if (refusal !== undefined) {
      metrics.countRejected(refusal.code);
      if (refusal.close) endSocket(ws, refusal.close.code, refusal.close.reason, metrics);
      else if (refusal.notify) this.error(ws, refusal.code, refusal.reason);
      return;
    }
    if (bytes.byteLength > config.maxMessageBytes) {
      this.refuse(
        ws,
        ErrorCode.TooLarge,
        `message of ${bytes.byteLength} bytes exceeds ${config.maxMessageBytes}`,
      );
      return;
    }
    if (data.joining && !data.joined) {
      // Decoded once the room's codec is known (binary ops need its schema); the buffer is uWS's, so copy it.
      if (data.early.length >= maxEarlyMessages) this.refuse(ws, ErrorCode.NotJoined, 'send join first');
      else data.early.push(bytes.slice());
      return;
    }
    this.dispatch(ws, bytes);
  }

  /** Decodes an admitted message with the socket's codec and hands it to the room (or answers it). */
  private dispatch(ws: WebSocket<SocketData>, bytes: Uint8Array): void {
    const data = ws.getUserData();
    const { config, metrics } = this.deps;
    const codec = data.joined ? data.joined.decoder : handshakeCodecs[data.codec];
    const decoded = codec.decodeClient(bytes);
    if (!decoded.ok) {
      this.refuse(ws, decoded.error.code, decoded.error.message);
      return;
    }
    const message = decoded.value;
    metrics.countIn(message.type);
    if (message.type === 'join') {
      void this.join(ws, message).catch((error: unknown) => {
        // A join must end in an answer, never in an unhandled rejection (which would end the process).
        this.deps.logger.error({ err: error }, 'join failed');
        const data = ws.getUserData();
        data.joining = false;
        if (!data.closed)
          this.fail(ws, new P3Error(ErrorCode.Internal, 'the join failed; try again'), CloseCode.Internal);
      });
      return;
    }
    if (!data.joined) {
      this.refuse(ws, ErrorCode.NotJoined, 'send join first');
      return;
    }
    if (message.type === 'resync' && !data.limits.admitResync()) {
      const { perSecond } = config.resyncRate;
      this.refuse(
        ws,
        ErrorCode.RateLimited,
        `at most ${perSecond} resync requests per second: this one is dropped`,
      );
      return;
    }
    data.joined.session.receive(message as Exclude<ClientMessage, JoinMessage>);
  }

  drain(ws: WebSocket<SocketData>): void {
    const { joined } = ws.getUserData();
    if (joined) this.deps.fanout.drained(joined.key, joined.connectionId);
  }

  close(ws: WebSocket<SocketData>): void {
    const data = ws.getUserData();
    data.closed = true;
    data.joinTimer?.();
    data.limits.leaveRoom();
    if (data.joined) {
      this.deps.fanout.removeMember(data.joined.key, data.joined.connectionId);
      data.joined.session.leave();
    }
  }

  private async join(ws: WebSocket<SocketData>, message: JoinMessage): Promise<void> {
    const data = ws.getUserData();
    const { metrics } = this.deps;
    if (data.joined || data.joining) {
      this.refuse(ws, ErrorCode.AlreadyJoined, 'this connection already joined a room');
      return;
    }
    if (message.protocolVersion !== PROTOCOL_VERSION) {
      this.error(
        ws,
        ErrorCode.ProtocolVersion,
        `protocol version ${message.protocolVersion} is not supported; this server speaks ${PROTOCOL_VERSION}`,
      );
      endSocket(
        ws,
        CloseCode.ProtocolVersion,
        `protocol version ${message.protocolVersion} unsupported (server: ${PROTOCOL_VERSION})`,
        metrics,
      );
      return;
    }
    data.joining = true;
    let key: RoomKey = { tenant: this.deps.config.tenant, room: message.room };
    const principal = await this.deps.auth.authenticate(message.token ?? data.token, key);
    if (data.closed) return;
    if (!principal.ok) {
      this.fail(
        ws,
        principal.error,
        principal.error.code === ErrorCode.Forbidden ? CloseCode.Forbidden : CloseCode.Unauthorized,
      );
      return;
    }
    // Room names are per team: a team's `arena` is its own room (see scopedRoomKey in @p3/runtime).
    key = scopedRoomKey(key.tenant, message.room, principal.value);
    const result = await this.deps.rooms.join({
      key,
      clientId: message.clientId,
      sessionStamp: message.sessionStamp,
      ...(message.resumeFrame === undefined ? {} : { resumeFrame: message.resumeFrame }),
      ...(principal.value === undefined ? {} : { principal: principal.value }),
    });
    if (!result.ok) {
      if (!data.closed) this.fail(ws, result.error, result.closeCode);
      return;
    }
    if (data.closed) {
      // The socket went away while the room was opening: give the session back at once.
      result.session.leave();
      return;
    }
    data.joinTimer?.();
    data.joining = false;
    const decoder = this.deps.fanout.addMember(key, result.connectionId, ws, data.codec, result.welcome);
    data.joined = { key, connectionId: result.connectionId, session: result.session, decoder };
    data.limits.joinRoom(roomBudgetKey(key));
    result.attached?.();
    const early = data.early;
    data.early = [];
    for (const bytes of early) if (!data.closed) this.dispatch(ws, bytes);
  }

  private fail(ws: WebSocket<SocketData>, error: P3Error, closeCode: number): void {
    this.error(ws, error.code, error.message);
    endSocket(ws, closeCode, error.message, this.deps.metrics);
  }

  /** Answers a refused message; a socket that used up its refusals is closed instead (ProtocolViolation). */
  private refuse(ws: WebSocket<SocketData>, code: ErrorCode, reason: string): void {
    const { metrics } = this.deps;
    metrics.countRejected(code);
    const close = ws.getUserData().limits.refused();
    this.error(ws, code, reason);
    if (close) endSocket(ws, close.code, `${close.reason} (last: ${code})`, metrics);
  }

  /** Sends an error with the socket's codec (before join the handshake codec: errors need no schema). */
  private error(ws: WebSocket<SocketData>, code: ErrorCode, reason: string): void {
    const data = ws.getUserData();
    if (data.closed) return;
    const message: ErrorMessage = { type: 'error', code, reason };
    const codec = data.joined ? data.joined.decoder : handshakeCodecs[data.codec];
    const encoded = codec.encodeServer(message);
    ws.send(encoded, typeof encoded !== 'string');
  }
}
