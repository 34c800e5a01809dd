import type { Result } from '@p3/protocol';
import { ok } from '@p3/protocol';
import type { Principal, RoomKey } from '@p3/runtime';

/**
 * Decides who a connection is. The gateway asks it once per join (WebSocket) or request (HTTP); a failure's
 * code is UNAUTHORIZED (no or bad credentials) or FORBIDDEN (valid, but not for this room).
 */
export interface Authenticator {
  authenticate(token: string | undefined, room: RoomKey | undefined): Promise<Result<Principal | undefined>>;
}

/** The embedded default: anyone may join, as nobody in particular. */
export const anonymousAuthenticator: Authenticator = {
  authenticate: async () => ok(undefined),
};
