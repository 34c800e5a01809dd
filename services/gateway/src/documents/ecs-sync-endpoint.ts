import { randomUUID } from 'node:crypto';
import { CloseCode, ErrorCode, P3Error, closeReason } from '@p3/protocol';
import type { Room, WebSocketLike } from '@p3/ecs-sync-server';
import type { GatewayExtension } from '../gateway.js';
import { bearerToken, isRoomId, sendError } from '../http/http-errors.js';
import { guardResponse } from '../http/http-response.js';
import type { WebSocket } from '../uws.js';
import type { DocumentRooms } from './document-rooms.js';

interface EcsSyncSocket {
  readonly room: Room;
  readonly sessionId: string;
  readonly clientId: string;
  closed: boolean;
}

export interface EcsSyncEndpointOptions {
  readonly rooms: DocumentRooms;
  /** Largest message (the room answers TOO_LARGE below it; above it uWS closes the socket). Default 1 MiB. */
  readonly maxPayloadBytes?: number;
  readonly idleTimeoutSeconds?: number;
  /** A socket whose send buffer passes this is closed (4001): the client reconnects and gets a diff. */
  readonly maxBufferedBytes?: number;
}

/**
 * `/ecs-sync?roomId=…&clientId=…&token=…`: the seed-003 JSON protocol, byte-compatible with the existing client,
 * backed by the gateway's document rooms. Authentication and the room's team are checked during the upgrade
 * (a refusal is an HTTP 401/403 with a reason); keepalive is uWS's built-in ping and idle timeout.
 */
export function ecsSyncEndpoint(options: EcsSyncEndpointOptions): GatewayExtension {
  const maxBuffered = options.maxBufferedBytes ?? 8 * 1024 * 1024;
  return {
    register(app, { auth, logger, config }) {
      app.ws<EcsSyncSocket>('/ecs-sync', {
        maxPayloadLength: options.maxPayloadBytes ?? 1024 * 1024,
        maxBackpressure: maxBuffered * 2,
        idleTimeout: options.idleTimeoutSeconds ?? 60,
        sendPingsAutomatically: true,
        upgrade: async (res, req, context) => {
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
              { room: room.value, sessionId: randomUUID(), clientId, closed: false },
              key,
              protocol,
              extensions,
              context,
            );
          });
        },
        open: (ws) => {
          const data = ws.getUserData();
          void data.room.handleSocketConnect({
            sessionId: data.sessionId,
            socket: socketLike(ws, maxBuffered),
            clientId: data.clientId,
          });
        },
        message: (ws, message) => {
          const data = ws.getUserData();
          data.room.handleSocketMessage(data.sessionId, Buffer.from(message).toString('utf8'));
        },
        close: (ws) => {
          const data = ws.getUserData();
          data.closed = true;
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
