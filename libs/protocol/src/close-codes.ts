/**
 * WebSocket close codes of P3, in documented ranges so a client can decide without knowing every code:
 * - 4000-4099: transient. Reconnect with backoff (same or another gateway).
 * - 4100-4199: terminal. Do not retry without a change (new token, upgrade, smaller messages).
 * - 4200-4299: reserved for application-defined closes issued by world logic.
 * Standard codes 1000/1001/1009 keep their meaning (1001 = server going away, reconnect elsewhere; 1009 = message
 * too big).
 */
export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  /** Standard: a message larger than the server's payload cap (`P3_MAX_PAYLOAD_BYTES`). */
  MessageTooBig: 1009,
  // transient
  ServerDraining: 4000,
  Backpressure: 4001,
  IdleTimeout: 4002,
  RoomClosed: 4003,
  Replaced: 4004,
  Internal: 4005,
  /**
   * Cluster: the room moved to another simulator (failover, rebalance) or its output had a gap the gateway could
   * not repair. Reconnect: the welcome resumes the session with a delta.
   */
  RoomMoved: 4006,
  // terminal
  ProtocolVersion: 4100,
  Unauthorized: 4101,
  Forbidden: 4102,
  BadHandshake: 4103,
  RoomFull: 4104,
  QuotaExceeded: 4105,
  /** The protocol was broken, or the socket kept sending refused messages (`P3_REFUSAL_BURST`). */
  ProtocolViolation: 4106,
  /** Messages kept being dropped by the message or byte rate limits (`P3_RATE_LIMIT_CLOSE_AFTER` in a row). */
  RateLimited: 4107,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

export const CloseCodeRange = {
  transientMin: 4000,
  transientMax: 4099,
  terminalMin: 4100,
  terminalMax: 4199,
  applicationMin: 4200,
  applicationMax: 4299,
} as const;

/** True when a client should reconnect after this close code (with backoff). */
export function shouldReconnect(code: number): boolean {
  if (code >= CloseCodeRange.terminalMin && code <= CloseCodeRange.terminalMax) return false;
  if (code >= CloseCodeRange.applicationMin && code <= CloseCodeRange.applicationMax) return false;
  return code !== CloseCode.Normal;
}

/** Close reasons must fit a close frame: 123 bytes of UTF-8. Longer reasons are cut on a character boundary. */
export function closeReason(reason: string): string {
  const max = 123;
  const utf8 = new TextEncoder();
  if (utf8.encode(reason).length <= max) return reason;
  let out = '';
  let bytes = 0;
  for (const ch of reason) {
    const size = utf8.encode(ch).length;
    if (bytes + size > max) break;
    out += ch;
    bytes += size;
  }
  return out;
}
