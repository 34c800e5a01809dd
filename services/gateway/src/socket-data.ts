import type { ServerCodec } from '@p3/protocol';
import type { Cancel, RoomKey, RoomSession } from '@p3/runtime';
import type { InboundLimits } from './inbound-limits.js';

/** Per-socket state, stored as uWS user data. */
export interface SocketData {
  readonly id: number;
  readonly codec: 'json' | 'binary';
  readonly remote: string;
  /** Set in the close handler: a uWS socket must not be touched afterwards. */
  closed: boolean;
  joining: boolean;
  /**
   * Messages that arrived while the join was in flight (a reconnecting client sends its queued ops right behind its
   * join, and a join across the cluster takes a round trip): copies, handled in order once the join succeeds.
   */
  early: Uint8Array[];
  /** Set on join: the room line and the codec that decodes this member's messages (no lookups per message). */
  joined:
    | {
        readonly key: RoomKey;
        readonly connectionId: string;
        readonly session: RoomSession;
        readonly decoder: ServerCodec;
      }
    | undefined;
  /** Message, byte and resync rates, and the refusals left before the socket is closed. */
  readonly limits: InboundLimits;
  /** A bearer token sent with the upgrade (`?token=` or `Authorization`): used when `join` carries none. */
  readonly token: string | undefined;
  joinTimer: Cancel | undefined;
}
