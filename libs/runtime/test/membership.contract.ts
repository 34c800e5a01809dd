import { describe, expect, it } from 'vitest';
import type { Membership } from '../src/ports/membership.js';

/** Membership on one shared store, fresh for each test, as several processes would see it. */
export interface MembershipHarness {
  /** Another handle on the same store (another process's view); may return the same instance. */
  open(): Promise<Membership>;
  /** The member TTL the contract uses: short for real stores, since expiry means real waiting. */
  readonly ttlMs: number;
  /** Lets at least `ms` of the store's time pass. */
  elapse(ms: number): Promise<void>;
  /** Closes every handle opened. */
  dispose(): Promise<void>;
}

/** Every Membership keeps these promises (see the interface doc). Run against each implementation. */
export function describeMembershipContract(name: string, make: () => Promise<MembershipHarness>): void {
  describe(`Membership contract: ${name}`, () => {
    async function withHarness(test: (h: MembershipHarness, m: Membership) => Promise<void>): Promise<void> {
      const h = await make();
      try {
        await test(h, await h.open());
      } finally {
        await h.dispose();
      }
    }

    it('[MEMBER-1] lists joined members to every handle, sorted, each once, with their info', () =>
      withHarness(async (h, membership) => {
        const other = await h.open();
        expect(await membership.members()).toEqual([]);
        await membership.join('sim-c', h.ttlMs, { inbox: 'p3.sim.c' });
        await other.join('sim-a', h.ttlMs);
        await membership.join('Sim-B', h.ttlMs);
        await other.join('sim-c', h.ttlMs, { inbox: 'p3.sim.c2', zone: 'eu' });
        for (const handle of [membership, other]) {
          expect(await handle.members()).toEqual(['Sim-B', 'sim-a', 'sim-c']);
          expect(await handle.info('sim-c')).toEqual({ inbox: 'p3.sim.c2', zone: 'eu' });
          expect(await handle.info('sim-a')).toEqual({});
          expect(await handle.info('sim-z')).toBeNull();
        }
      }));

    it('[MEMBER-2] keeps a member that heartbeats alive past its TTL', () =>
      withHarness(async (h, membership) => {
        await membership.join('sim-a', h.ttlMs);
        await membership.join('sim-b', h.ttlMs);
        for (let i = 0; i < 3; i++) {
          await h.elapse(h.ttlMs / 2);
          expect(await membership.heartbeat('sim-a', h.ttlMs)).toBe(true);
        }
        expect(await membership.members()).toEqual(['sim-a']);
      }));

    it('[MEMBER-3] drops a silent member after its TTL; a late heartbeat does not bring it back', () =>
      withHarness(async (h, membership) => {
        const other = await h.open();
        await membership.join('sim-a', h.ttlMs, { inbox: 'a' });
        await other.join('sim-b', h.ttlMs * 10);
        await h.elapse(h.ttlMs);
        expect(await other.members()).toEqual(['sim-b']);
        expect(await membership.heartbeat('sim-a', h.ttlMs)).toBe(false);
        expect(await membership.members()).toEqual(['sim-b']);
        expect(await membership.info('sim-a')).toBeNull();
        await membership.join('sim-a', h.ttlMs);
        expect(await other.members()).toEqual(['sim-a', 'sim-b']);
        expect(await other.info('sim-a')).toEqual({});
      }));

    it('[MEMBER-4] removes a member that leaves at once, for every handle', () =>
      withHarness(async (h, membership) => {
        const other = await h.open();
        await membership.join('sim-a', h.ttlMs, { inbox: 'a' });
        await membership.join('sim-b', h.ttlMs);
        await membership.leave('sim-a');
        await membership.leave('never-joined');
        expect(await other.members()).toEqual(['sim-b']);
        expect(await other.info('sim-a')).toBeNull();
        expect(await membership.heartbeat('sim-a', h.ttlMs)).toBe(false);
        expect(await other.members()).toEqual(['sim-b']);
      }));
  });
}
