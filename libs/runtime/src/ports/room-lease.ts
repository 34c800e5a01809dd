import type { RoomKey } from './snapshot-store.js';

/** The lease a claim obtained. `epoch` is the fencing token every frame and snapshot of this ownership carries. */
export interface LeaseGrant {
  readonly granted: true;
  readonly epoch: number;
  /** How long the lease lives unless renewed, by the store's clock. */
  readonly expiresInMs: number;
}

/** Who holds a room's lease right now. */
export interface LeaseHolder {
  readonly owner: string;
  readonly epoch: number;
  readonly expiresInMs: number;
}

/** A claim refused because the room is held (possibly by the claimant itself: it should renew, not claim). */
export interface LeaseHeld {
  readonly granted: false;
  readonly holder: LeaseHolder;
}

/**
 * Room ownership across the cluster: one lease per room, renewed by the simulator that owns the room (DESIGN.md
 * section 5). Guarantees every implementation keeps (checked by `test/room-lease.contract.ts`):
 * - at most one live holder per room at any time, by the store's clock (never by the caller's);
 * - a grant's `epoch` is strictly greater than every epoch ever granted for that room, including leases that
 *   expired or were released; epochs are never reused, so a snapshot or frame of a deposed owner is always
 *   recognisably older (gaps between epochs are allowed);
 * - `renew` and `release` succeed only for the current holder of that exact epoch: a stale owner (its lease
 *   expired, and possibly another owner claimed the room) gets `false` and changes nothing;
 * - a claim while the lease is live is refused with the holder, whoever the claimant is.
 *
 * A lease only fences when the epoch is checked downstream (the snapshot store refuses older epochs, gateways
 * drop frames of older epochs): an owner whose renewal fails must stop writing at once.
 *
 * @example
 * const grant = await leases.claim({ tenant: 't', room: 'r' }, 'sim-1', 5_000);
 * if (grant.granted) setInterval(() => leases.renew(key, 'sim-1', grant.epoch, 5_000), 1_500);
 */
export interface RoomLeases {
  claim(key: RoomKey, owner: string, ttlMs: number): Promise<LeaseGrant | LeaseHeld>;
  /** Extends the lease to `ttlMs` from now; false when `owner` no longer holds `epoch` (nothing changes then). */
  renew(key: RoomKey, owner: string, epoch: number, ttlMs: number): Promise<boolean>;
  /** Ends the lease now so the next claim need not wait for expiry; false when `owner` no longer holds `epoch`. */
  release(key: RoomKey, owner: string, epoch: number): Promise<boolean>;
  /** The live holder, or null when the room is free. */
  holder(key: RoomKey): Promise<LeaseHolder | null>;
  /** Stops using the store. Connections passed in by the caller stay the caller's to close. */
  close(): Promise<void>;
}
