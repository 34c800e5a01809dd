import { closeReason, type EcsSyncErrorResponse, type EcsSyncServerMessage } from '@p3/protocol';
import type { WebSocketLike } from './WebSocketLike.js';

/** One accepted connection of a room (internal). */
export class Session {
  /**
   * False until the session's `reconnect` was answered. Until then patches sent to it carry timestamp 0: the
   * client keeps `lastTimestamp` from every patch, and must not move it past changes its reconnect diff has
   * not delivered yet (a drop in that window would lose them for good).
   */
  synced = false;

  constructor(
    readonly sessionId: string,
    readonly clientId: string,
    readonly socket: WebSocketLike,
    private readonly report: (error: unknown, context: string) => void,
  ) {}

  send(message: EcsSyncServerMessage): void {
    this.sendText(JSON.stringify(message));
  }

  /** Sends pre-encoded text (encode once, fan out many). A failing socket is reported, never thrown. */
  sendText(text: string): void {
    try {
      this.socket.send(text);
    } catch (error) {
      this.report(error, `send to session ${this.sessionId}`);
    }
  }
}

/** A connection waiting for `onBeforeConnect`; its messages queue until the decision. */
export interface PendingSession {
  readonly sessionId: string;
  readonly clientId: string;
  readonly socket: WebSocketLike;
  readonly queue: unknown[];
  closed: boolean;
}

/** Closes a socket, reporting (never throwing) what the socket library throws. */
export function closeSocket(
  socket: WebSocketLike,
  code: number,
  reason: string,
  report: (error: unknown, context: string) => void,
): void {
  try {
    socket.close(code, reason);
  } catch (error) {
    report(error, 'close socket');
  }
}

/** Refuses a connection: an `error` message the client can show, then a close with `closeCode`. */
export function refuseSocket(
  socket: WebSocketLike,
  code: EcsSyncErrorResponse['code'],
  reason: string,
  closeCode: number,
  report: (error: unknown, context: string) => void,
): void {
  try {
    socket.send(JSON.stringify({ type: 'error', code, reason } satisfies EcsSyncErrorResponse));
  } catch (error) {
    report(error, 'refuse');
  }
  closeSocket(socket, closeCode, closeReason(reason), report);
}
