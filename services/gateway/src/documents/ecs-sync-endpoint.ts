import { randomUUID } from 'node:crypto';
import { CloseCode, ErrorCode, P3Error, closeReason } from '@p3/protocol';
import type { WebSocketLike } from '@p3/ecs-sync-server';
import type { Result } from '@p3/protocol';
import { systemClock, type Principal } from '@p3/runtime';
import type { GatewayExtension } from '../gateway.js';
import { InboundLimits, roomBudgetKey } from '../inbound-limits.js';
import { bearerToken, isRoomId, sendError } from '../http/http-errors.js';
import { guardResponse } from '../http/http-response.js';
import type { WebSocket } from '../uws.js';

/**
 * What `/ecs-sync` needs of a document room: the seed-003 `Room`'s socket API. In one process that is the room
 * itself (DocumentRooms); in the cluster, a proxy to the simulator that owns it (ClusterDocumentRooms).
 */
export interface DocumentRoomSockets {
  handleSocketConnect(connection: { sessionId: string; socket: WebSocketLike; clientId: string }): unknown;
  handleSocketMessage(sessionId: string, data: string): void;
  handleSocketClose(sessionId: string): void;
}

/** Opens the caller's document room (team-scoped) for its sockets. */
export interface DocumentSocketRooms {
  open(roomId: string, principal: Principal | undefined): Promise<Result<DocumentRoomSockets>>;
  close(): Promise<void>;
}

interface EcsSyncSocket {
  readonly room: DocumentRoomSockets;
  readonly roomId: string;
  readonly sessionId: string;
  readonly clientId: string;
  /** Message and byte rates of the socket and of its room. */
  readonly limits: InboundLimits;
  closed: boolean;
}

export interface EcsSyncEndpointOptions {
  readonly rooms: DocumentSocketRooms;
  /**
   * Largest message (the room answers TOO_LARGE below it; above it the socket is closed with 1009, and past twice
   * it uWS drops the connection). Default 1 MiB.
   */
  readonly maxPayloadBytes?: number;
  readonly idleTimeoutSeconds?: number;
  /** A socket whose send buffer passes this is closed (4001): the client reconnects and gets a diff. */
  readonly maxBufferedBytes?: number;
}

/**
 * `/ecs-sync?roomId=…&clientId=…&token=…`: the seed-003 JSON protocol, byte-compatible with the existing client,
 * backed by the gateway's document rooms. The origin, authentication and the room's team are checked during the
 * upgrade (a refusal is an HTTP 401/403 with a reason); keepalive is uWS's built-in ping and idle timeout. Each
 * message passes the gateway's message and byte rates first (`P3_RATE_LIMIT_*`, `P3_BYTE_RATE_*`,
 * `P3_ROOM_BYTE_RATE_*`): over them it is dropped with an `error` (at most one a second), and a socket that keeps
 * going is closed (4107).
 */
export function ecsSyncEndpoint(options: EcsSyncEndpointOptions): GatewayExtension {
  const maxBuffered = options.maxBufferedBytes ?? 8 * 1024 * 1024;
  const maxPayload = options.maxPayloadBytes ?? 1024 * 1024;
  return {
    register(app, { auth, logger, config, origins, roomBudgets, metrics }) {
      app.ws<EcsSyncSocket>('/ecs-sync', {
        // Twice the cap: past the cap the socket is closed with 1009 and a reason (uWS would drop it without one).
        maxPayloadLength: maxPayload * 2,
        maxBackpressure: maxBuffered * 2,
        idleTimeout: options.idleTimeoutSeconds ?? 60,
        sendPingsAutomatically: true,
        upgrade: async (res, req, context) => {
          const foreign = origins.check(req.getHeader('origin'), req.getHeader('host'));
          if (foreign) return sendError(res, undefined, foreign);
          // Everything needed from req is read before the first await (uWS frees it after the callback).
          const key = req.getHeader('sec-websocket-key');
          const protocol = req.getHeader('sec-websocket-protocol');
          const extensions = req.getHeader('sec-websocket-extensions');
          const roomId = req.getQuery('roomId') || 'default';
          const clientId = req.getQuery('clientId') ?? '';
          const token = bearerToken(req);
          const guard = guardResponse(res);
          if (!isRoomId(roomId))
            return sendError(
              res,
              guard,
              new P3Error(ErrorCode.InvalidMessage, 'roomId may hold letters, digits and _ . : - (1-128)'),
            );
          if (clientId === '' || clientId.length > 128)
            return sendError(
              res,
              guard,
              new P3Error(ErrorCode.InvalidMessage, 'clientId is required (1-128 characters)'),
            );
          const principal = await auth.authenticate(token, { tenant: config.tenant, room: `doc/${roomId}` });
          if (guard.aborted) return;
          if (!principal.ok) return sendError(res, guard, principal.error);
          const room = await options.rooms.open(roomId, principal.value);
          if (guard.aborted) return;
          if (!room.ok) return sendError(res, guard, room.error);
          res.cork(() => {
            res.upgrade<EcsSyncSocket>(
              {
                room: room.value,
                roomId,
                sessionId: randomUUID(),
                clientId,
                limits: new InboundLimits(config, systemClock, roomBudgets),
                closed: false,
              },
              key,
              protocol,
              extensions,
              context,
            );
          });
        },
        open: (ws) => {
          const data = ws.getUserData();
          data.limits.joinRoom(roomBudgetKey({ tenant: config.tenant, room: `doc/${data.roomId}` }));
          void data.room.handleSocketConnect({
            sessionId: data.sessionId,
            socket: socketLike(ws, maxBuffered),
            clientId: data.clientId,
          });
        },
        message: (ws, message) => {
          const data = ws.getUserData();
          if (message.byteLength > maxPayload) {
            data.closed = true;
            ws.end(
              CloseCode.MessageTooBig,
              `message of ${message.byteLength} bytes exceeds the payload cap of ${maxPayload}`,
            );
            return;
          }
          const refusal = data.limits.admit(message.byteLength);
          if (refusal !== undefined) {
            metrics.countRejected(refusal.code);
            if (refusal.close) {
              data.closed = true;
              ws.end(refusal.close.code, refusal.close.reason);
            } else if (refusal.notify) {
              ws.send(JSON.stringify({ type: 'error', code: refusal.code, reason: refusal.reason }), false);
            }
            return;
          }
          data.room.handleSocketMessage(data.sessionId, Buffer.from(message).toString('utf8'));
        },
        close: (ws) => {
          const data = ws.getUserData();
          data.closed = true;
          data.limits.leaveRoom();
          data.room.handleSocketClose(data.sessionId);
        },
      });
      logger.debug('ecs-sync endpoint at /ecs-sync');
    },
    close: () => options.rooms.close(),
  };
}

/** The uWS socket as the room's minimal WebSocketLike (the room forwards by session id; no listeners needed). */
function socketLike(ws: WebSocket<EcsSyncSocket>, maxBuffered: number): WebSocketLike {
  return {
    send(text) {
      const data = ws.getUserData();
      if (data.closed) return;
      ws.send(text, false);
      if (ws.getBufferedAmount() > maxBuffered) {
        data.closed = true;
        ws.end(CloseCode.Backpressure, 'too slow: send buffer over the limit');
      }
    },
    close(code, reason) {
      const data = ws.getUserData();
      if (data.closed) return;
      data.closed = true;
      ws.end(code ?? CloseCode.Normal, closeReason(reason ?? ''));
    },
  };
}
