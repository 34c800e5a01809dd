import type { ServerMessage } from '@p3/protocol';
import type { RoomKey } from './snapshot-store.js';

/**
 * Where a room's messages go. In one process the gateway implements it directly (encode once per codec,
 * publish to a uWS topic); in the cluster a NATS adapter publishes to the room's output subject and to the
 * gateway inbox of the member. Rooms never see sockets.
 */
export interface RoomOutput {
  /** To every attached member of the room, in order (frames). */
  broadcast(key: RoomKey, message: ServerMessage): void;
  /** To one member. */
  send(key: RoomKey, connectionId: string, message: ServerMessage): void;
  /** Ends one member's connection with a close code from CloseCode. */
  close(key: RoomKey, connectionId: string, code: number, reason: string): void;
}
