import type { Cancel, RoomKey } from '@p3/runtime';
import type { TokenBucket } from './rate-limiter.js';

/** Per-socket state, stored as uWS user data. */
export interface SocketData {
  readonly id: number;
  readonly codec: 'json' | 'binary';
  readonly remote: string;
  /** Set in the close handler: a uWS socket must not be touched afterwards. */
  closed: boolean;
  joining: boolean;
  joined: { readonly key: RoomKey; readonly connectionId: string } | undefined;
  readonly limiter: TokenBucket;
  /** Messages dropped in a row by the rate limiter. */
  dropped: number;
  /** Clock time of the last RATE_LIMITED error sent (at most one per second). */
  lastRateError: number;
  joinTimer: Cancel | undefined;
}
