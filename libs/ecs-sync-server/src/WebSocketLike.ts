/**
 * The minimal socket a {@link Room} needs, so the room is not tied to one WebSocket library.
 *
 * `ws`, browser-style `WebSocket`s and most server runtimes match it as they are. Sockets without
 * `addEventListener` (Bun's `ServerWebSocket`, uWebSockets.js) forward their events by hand with
 * `room.handleSocketMessage / handleSocketClose / handleSocketError`.
 *
 * The room never pings: liveness is left to the socket layer (TCP keep-alive, `ws` or uWS idle timeouts).
 *
 * @example
 * wss.on('connection', (ws) => room.handleSocketConnect({ sessionId: randomUUID(), socket: ws, clientId }));
 */
export interface WebSocketLike {
  /** Sends one text message. May be called after the peer went away: implementations drop it or throw. */
  send(data: string): void;
  /** Closes the socket. `code`/`reason` are passed when the room knows why (P3 close codes, 4000-4199). */
  close(code?: number, reason?: string): void;
  /** Optional: when present the room attaches `message`, `close` and `error` listeners itself. */
  addEventListener?(event: 'message', handler: (event: { data: unknown }) => void): void;
  addEventListener?(event: 'close', handler: () => void): void;
  addEventListener?(event: 'error', handler: (error: unknown) => void): void;
}
