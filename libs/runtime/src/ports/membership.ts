/** What a member publishes about itself when it joins (e.g. its inbox subject or address). */
export type SimulatorInfo = Readonly<Record<string, string>>;

/**
 * The live simulators of the cluster, kept alive by heartbeats. Placement (`placeRoom`) runs over `members()`.
 * Guarantees every implementation keeps (checked by `test/membership.contract.ts`):
 * - a member is live from `join` until `ttlMs` after its last `join` or successful `heartbeat`, by the store's
 *   clock (never the caller's, so processes with skewed clocks agree), or until it `leave`s;
 * - `heartbeat` of a member that is not live (it expired or left) returns false and does not bring it back: the
 *   others may already have moved its rooms, so it must `join` again knowingly;
 * - `members()` lists exactly the live members, sorted by code unit order, each once.
 *
 * @example
 * await membership.join('sim-1', 3_000, { inbox: 'p3.sim.sim-1' });
 * setInterval(() => membership.heartbeat('sim-1', 3_000), 1_000);
 */
export interface Membership {
  /** Adds the member (or refreshes it and replaces its info when it is already live). */
  join(memberId: string, ttlMs: number, info?: SimulatorInfo): Promise<void>;
  /** Extends the member's life to `ttlMs` from now; false when it was not live. */
  heartbeat(memberId: string, ttlMs: number): Promise<boolean>;
  /** Removes the member at once (graceful drain), so its rooms move without waiting for its TTL. */
  leave(memberId: string): Promise<void>;
  /** The live members, sorted. */
  members(): Promise<string[]>;
  /** The info a live member joined with ({} when it gave none), or null when it is not live. */
  info(memberId: string): Promise<SimulatorInfo | null>;
  /** Stops using the store. Connections passed in by the caller stay the caller's to close. */
  close(): Promise<void>;
}
