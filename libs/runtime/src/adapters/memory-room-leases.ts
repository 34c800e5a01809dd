import { systemClock, type Clock } from '../ports/clock.js';
import type { LeaseGrant, LeaseHeld, LeaseHolder, RoomLeases } from '../ports/room-lease.js';
import type { RoomKey } from '../ports/snapshot-store.js';

interface Lease {
  readonly owner: string;
  readonly epoch: number;
  expiresAt: number;
}

interface RoomLeaseState {
  /** The last epoch granted; kept after the lease ends so epochs are never reused. */
  lastEpoch: number;
  lease: Lease | null;
}

/**
 * Room leases in this process's memory, for single-process deployments and tests. Time comes from the injected
 * clock, so tests expire leases by moving a `ManualClock`. Every call completes synchronously inside its promise,
 * so concurrent claims are serialised by the event loop.
 */
export class MemoryRoomLeases implements RoomLeases {
  private readonly rooms = new Map<string, RoomLeaseState>();
  private readonly clock: Clock;

  constructor(options: { clock?: Clock } = {}) {
    this.clock = options.clock ?? systemClock;
  }

  async claim(key: RoomKey, owner: string, ttlMs: number): Promise<LeaseGrant | LeaseHeld> {
    checkTtl(ttlMs);
    const state = this.state(key);
    const live = this.live(state);
    if (live) return { granted: false, holder: this.describe(live) };
    state.lastEpoch += 1;
    state.lease = { owner, epoch: state.lastEpoch, expiresAt: this.clock.now() + ttlMs };
    return { granted: true, epoch: state.lastEpoch, expiresInMs: ttlMs };
  }

  async renew(key: RoomKey, owner: string, epoch: number, ttlMs: number): Promise<boolean> {
    checkTtl(ttlMs);
    const lease = this.held(key, owner, epoch);
    if (!lease) return false;
    lease.expiresAt = this.clock.now() + ttlMs;
    return true;
  }

  async release(key: RoomKey, owner: string, epoch: number): Promise<boolean> {
    if (!this.held(key, owner, epoch)) return false;
    this.state(key).lease = null;
    return true;
  }

  async holder(key: RoomKey): Promise<LeaseHolder | null> {
    const live = this.live(this.state(key));
    return live ? this.describe(live) : null;
  }

  async close(): Promise<void> {}

  private held(key: RoomKey, owner: string, epoch: number): Lease | null {
    const live = this.live(this.state(key));
    return live && live.owner === owner && live.epoch === epoch ? live : null;
  }

  private live(state: RoomLeaseState): Lease | null {
    return state.lease && state.lease.expiresAt > this.clock.now() ? state.lease : null;
  }

  private describe(lease: Lease): LeaseHolder {
    return { owner: lease.owner, epoch: lease.epoch, expiresInMs: lease.expiresAt - this.clock.now() };
  }

  private state(key: RoomKey): RoomLeaseState {
    // JSON of the pair is injective for any strings, unlike a joined string.
    const id = JSON.stringify([key.tenant, key.room]);
    let state = this.rooms.get(id);
    if (!state) {
      state = { lastEpoch: 0, lease: null };
      this.rooms.set(id, state);
    }
    return state;
  }
}

function checkTtl(ttlMs: number): void {
  if (!Number.isInteger(ttlMs) || ttlMs <= 0)
    throw new RangeError(`ttlMs must be a positive integer, got ${ttlMs}`);
}
