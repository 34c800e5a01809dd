import type { ServerCodec } from '@p3/protocol';
import type { Cancel, RoomKey, RoomSession } from '@p3/runtime';
import type { TokenBucket } from './rate-limiter.js';

/** Per-socket state, stored as uWS user data. */
export interface SocketData {
  readonly id: number;
  readonly codec: 'json' | 'binary';
  readonly remote: string;
  /** Set in the close handler: a uWS socket must not be touched afterwards. */
  closed: boolean;
  joining: boolean;
  /** Set on join: the room line and the codec that decodes this member's messages (no lookups per message). */
  joined:
    | {
        readonly key: RoomKey;
        readonly connectionId: string;
        readonly session: RoomSession;
        readonly decoder: ServerCodec;
      }
    | undefined;
  readonly limiter: TokenBucket;
  /** Messages dropped in a row by the rate limiter. */
  dropped: number;
  /** Clock time of the last RATE_LIMITED error sent (at most one per second). */
  lastRateError: number;
  joinTimer: Cancel | undefined;
}
