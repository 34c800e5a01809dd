import type { ClientMessage, P3Error, WelcomeMessage } from '@p3/protocol';
import type { RoomKey } from './ports/snapshot-store.js';

/** Who is connecting, as established by the gateway's authentication. */
export interface Principal {
  readonly user: string;
  readonly team: string;
}

export interface JoinRequest {
  readonly key: RoomKey;
  readonly clientId: string;
  readonly sessionStamp: number;
  readonly resumeFrame?: number;
  readonly principal?: Principal;
}

/** A joined member's line to its room: what the gateway calls per message, without looking the room up again. */
export interface RoomSession {
  /** A decoded client message of this member (never `join`). */
  receive(message: ClientMessage): void;
  /** The member's socket closed: the room keeps its session for a resume grace period. */
  leave(): void;
}

export type JoinResult =
  | {
      readonly ok: true;
      readonly connectionId: string;
      readonly welcome: WelcomeMessage;
      readonly session: RoomSession;
      /**
       * Called by the gateway once the member is in its fanout (the welcome sent): a room across the bus delivers
       * here what the room sent between the welcome and that moment.
       */
      readonly attached?: () => void;
    }
  | { readonly ok: false; readonly error: P3Error; readonly closeCode: number };

/**
 * What a gateway asks of the rooms, wherever they run: in-process (RoomHost) or on a simulator across NATS.
 * Replies to `receive` (acks, rejections, pongs, catch-ups) come back through the room's RoomOutput.
 */
export interface RoomService {
  join(request: JoinRequest): Promise<JoinResult>;
  /** A decoded client message of a joined member (never `join`). */
  receive(key: RoomKey, connectionId: string, message: ClientMessage): void;
  /** The member's socket closed: the room keeps its session for a resume grace period. */
  leave(key: RoomKey, connectionId: string): void;
}
