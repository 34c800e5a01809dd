import type { ErrorCode, GameEvent, Op, P3Error } from '@p3/protocol';
import type { P3Frame } from './p3-frame.js';

export interface ConnectInfo {
  readonly connectionId: string;
  /** True when the server resumed the previous session (same connection id, state sent as a delta). */
  readonly resumed: boolean;
  /** Frame of the state the welcome carried. */
  readonly frame: number;
}

export interface DisconnectInfo {
  /** WebSocket close code (see CloseCode in @p3/protocol; 1006: the connection was lost). */
  readonly code: number;
  readonly reason: string;
  /** False after a terminal close code (4100-4199), `disconnect()`, or a normal close: the client stopped. */
  readonly willReconnect: boolean;
}

export interface RejectInfo {
  readonly code: ErrorCode;
  readonly reason: string;
  /** The refused op (its optimistic effect has been removed). */
  readonly op: Op | undefined;
  readonly stamp: number;
  readonly seq: number;
}

export interface P3ClientEvents {
  /** An authoritative frame was applied (`verified`, `generated`, or `corrected` after a rewind or catch-up). */
  frame: P3Frame;
  /** A session was established (first connect and every reconnect). */
  connect: ConnectInfo;
  /** An established session ended, or the client stopped for good. */
  disconnect: DisconnectInfo;
  /** A game event, once per event id (corrected frames re-sending it do not re-deliver it). */
  event: GameEvent;
  /** The server refused one of this client's ops. */
  reject: RejectInfo;
  /** Something went wrong that the client survived (undecodable server message, storage failure, a listener threw). */
  error: P3Error;
}
