import { describe, expect, it } from 'vitest';
import type { LeaseGrant, LeaseHeld, RoomLeases } from '../src/ports/room-lease.js';
import type { RoomKey } from '../src/ports/snapshot-store.js';

/** Leases on one shared store, as several processes would see it. */
export interface RoomLeaseHarness {
  /** Another handle on the same store (another process's view); may return the same instance. */
  open(): Promise<RoomLeases>;
  /** The lease length the contract uses: short for real stores, since expiry means real waiting. */
  readonly ttlMs: number;
  /** Lets at least `ms` of the store's time pass. */
  elapse(ms: number): Promise<void>;
  /** Closes every handle opened. */
  dispose(): Promise<void>;
}

function granted(result: LeaseGrant | LeaseHeld): LeaseGrant {
  if (!result.granted)
    throw new Error(`expected a grant, the room is held by ${JSON.stringify(result.holder)}`);
  return result;
}

/** Every RoomLeases keeps these promises (see the interface doc). Run against each implementation. */
export function describeRoomLeaseContract(name: string, make: () => Promise<RoomLeaseHarness>): void {
  describe(`RoomLeases contract: ${name}`, () => {
    const room = (): RoomKey => ({ tenant: 't', room: `room-${Math.random().toString(36).slice(2)}` });

    async function withHarness(
      test: (h: RoomLeaseHarness, leases: RoomLeases) => Promise<void>,
    ): Promise<void> {
      const h = await make();
      try {
        await test(h, await h.open());
      } finally {
        await h.dispose();
      }
    }

    it('[LEASE-1] grants the first claim an epoch and reports its holder', () =>
      withHarness(async (h, leases) => {
        const key = room();
        expect(await leases.holder(key)).toBeNull();
        const grant = granted(await leases.claim(key, 'sim-a', h.ttlMs));
        expect(grant.epoch).toBeGreaterThanOrEqual(1);
        expect(grant.expiresInMs).toBe(h.ttlMs);
        const holder = await leases.holder(key);
        expect(holder).toMatchObject({ owner: 'sim-a', epoch: grant.epoch });
        expect(holder?.expiresInMs).toBeGreaterThan(0);
        expect(holder?.expiresInMs).toBeLessThanOrEqual(h.ttlMs);
      }));

    it('[LEASE-2] refuses every other claim while the lease is live and names the holder', () =>
      withHarness(async (h, leases) => {
        const key = room();
        const other = await h.open();
        const grant = granted(await leases.claim(key, 'sim-a', h.ttlMs));
        for (const [handle, owner] of [
          [other, 'sim-b'],
          [leases, 'sim-a'],
        ] as const) {
          const refused = await handle.claim(key, owner, h.ttlMs);
          expect(refused).toMatchObject({ granted: false, holder: { owner: 'sim-a', epoch: grant.epoch } });
        }
      }));

    it('[LEASE-3] lets another owner claim after expiry with a higher epoch; the stale owner can neither renew nor release', () =>
      withHarness(async (h, leases) => {
        const key = room();
        const other = await h.open();
        const first = granted(await leases.claim(key, 'sim-a', h.ttlMs));
        await h.elapse(h.ttlMs);
        expect(await leases.holder(key)).toBeNull();
        expect(await leases.renew(key, 'sim-a', first.epoch, h.ttlMs)).toBe(false);
        const second = granted(await other.claim(key, 'sim-b', h.ttlMs));
        expect(second.epoch).toBeGreaterThan(first.epoch);
        expect(await leases.renew(key, 'sim-a', first.epoch, h.ttlMs)).toBe(false);
        expect(await leases.release(key, 'sim-a', first.epoch)).toBe(false);
        // Knowing the new epoch is not enough: the owner must match too.
        expect(await leases.renew(key, 'sim-a', second.epoch, h.ttlMs)).toBe(false);
        expect(await leases.release(key, 'sim-a', second.epoch)).toBe(false);
        expect(await leases.holder(key)).toMatchObject({ owner: 'sim-b', epoch: second.epoch });
      }));

    it('[LEASE-4] keeps the lease past its first expiry while the holder renews', () =>
      withHarness(async (h, leases) => {
        const key = room();
        const grant = granted(await leases.claim(key, 'sim-a', h.ttlMs));
        for (let i = 0; i < 3; i++) {
          await h.elapse(h.ttlMs / 2);
          expect(await leases.renew(key, 'sim-a', grant.epoch, h.ttlMs)).toBe(true);
        }
        expect(await leases.claim(key, 'sim-b', h.ttlMs)).toMatchObject({ granted: false });
        expect(await leases.holder(key)).toMatchObject({ owner: 'sim-a', epoch: grant.epoch });
      }));

    it('[LEASE-5] lets only the holder of the epoch release; the next claim gets a higher epoch', () =>
      withHarness(async (h, leases) => {
        const key = room();
        const other = await h.open();
        const grant = granted(await leases.claim(key, 'sim-a', h.ttlMs));
        expect(await other.release(key, 'sim-b', grant.epoch)).toBe(false);
        expect(await leases.release(key, 'sim-a', grant.epoch + 1)).toBe(false);
        expect(await leases.holder(key)).toMatchObject({ owner: 'sim-a' });
        expect(await leases.release(key, 'sim-a', grant.epoch)).toBe(true);
        expect(await leases.holder(key)).toBeNull();
        expect(await leases.release(key, 'sim-a', grant.epoch)).toBe(false);
        expect(await leases.renew(key, 'sim-a', grant.epoch, h.ttlMs)).toBe(false);
        const next = granted(await other.claim(key, 'sim-b', h.ttlMs));
        expect(next.epoch).toBeGreaterThan(grant.epoch);
      }));

    it('[LEASE-6] never reuses an epoch across releases and expiries, whoever claims', () =>
      withHarness(async (h, leases) => {
        const key = room();
        const other = await h.open();
        const epochs: number[] = [];
        for (let i = 0; i < 6; i++) {
          const [handle, owner] = i % 2 === 0 ? [leases, 'sim-a'] : [other, 'sim-b'];
          const grant = granted(await handle.claim(key, owner, h.ttlMs));
          epochs.push(grant.epoch);
          if (i % 3 === 2) await h.elapse(h.ttlMs);
          else expect(await handle.release(key, owner, grant.epoch)).toBe(true);
        }
        for (let i = 1; i < epochs.length; i++) expect(epochs[i]).toBeGreaterThan(epochs[i - 1] ?? Infinity);
      }));

    it('[LEASE-7] grants exactly one of 20 racing claims and tells the others who won', () =>
      withHarness(async (h, leases) => {
        const key = room();
        const handles = [leases, await h.open(), await h.open(), await h.open()];
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) => handles[i % handles.length]!.claim(key, `sim-${i}`, h.ttlMs)),
        );
        const grants = results.flatMap((r, i) => (r.granted ? [{ owner: `sim-${i}`, epoch: r.epoch }] : []));
        expect(grants).toHaveLength(1);
        const winner = grants[0]!;
        for (const result of results)
          if (!result.granted)
            expect(result.holder).toMatchObject({ owner: winner.owner, epoch: winner.epoch });
        expect(await leases.holder(key)).toMatchObject(winner);
      }));

    it('[LEASE-8] keeps rooms and tenants apart, whatever characters their ids hold', () =>
      withHarness(async (h, leases) => {
        const salt = Math.random().toString(36).slice(2);
        const keys: RoomKey[] = [
          { tenant: `a:${salt}`, room: 'b' },
          { tenant: 'a', room: `${salt}:b` },
          { tenant: `a${salt}`, room: ':b' },
          { tenant: `x|${salt}`, room: 'r*' },
          { tenant: `x|${salt}`, room: 'r?' },
          { tenant: `sp ace ${salt}`, room: 'ü 房间 🎲' },
          { tenant: `sp ace ${salt}`, room: 'ü 房间 🎲 ' },
          { tenant: `lone ${salt}`, room: '\ud800' },
          { tenant: `lone ${salt}`, room: '\udc00' },
          { tenant: `pct ${salt}`, room: '%0025' },
          { tenant: `pct ${salt}`, room: '%' },
        ];
        const grants = [];
        for (const [i, key] of keys.entries())
          grants.push(granted(await leases.claim(key, `own|er ${i}`, h.ttlMs)));
        for (const [i, key] of keys.entries()) {
          expect(await leases.holder(key)).toMatchObject({ owner: `own|er ${i}`, epoch: grants[i]!.epoch });
        }
        // Releasing one room frees that room only.
        expect(await leases.release(keys[0]!, 'own|er 0', grants[0]!.epoch)).toBe(true);
        for (const key of keys.slice(1)) expect(await leases.holder(key)).not.toBeNull();
        // An owner id that contains `|` and digits cannot pose as another owner's epoch.
        const key = { tenant: `bar ${salt}`, room: 'r' };
        const grant = granted(await leases.claim(key, 'sim|1', h.ttlMs));
        expect(await leases.renew(key, 'sim', Number(`1${grant.epoch}`), h.ttlMs)).toBe(false);
        expect(await leases.renew(key, 'sim|1', grant.epoch, h.ttlMs)).toBe(true);
      }));
  });
}
