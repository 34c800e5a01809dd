import { describe, expect, it } from 'vitest';
import type { Presence, PresenceMember } from '../src/ports/presence.js';
import type { RoomKey } from '../src/ports/snapshot-store.js';

/** Two or more Presence instances on one shared store (like gateways sharing Redis) and a way to let time pass. */
export interface PresenceHarness {
  readonly presences: readonly [Presence, Presence, ...Presence[]];
  /** The TTL the cases heartbeat with: short where time is real, anything where it is simulated. */
  readonly ttlMs: number;
  /** Lets `ms` of the store's time pass (advance a clock, or sleep). */
  elapse(ms: number): Promise<void>;
  /** Closes the instances and removes whatever the harness stored. */
  dispose(): Promise<void>;
}

/** Every Presence keeps these promises (see the port doc). Run against each implementation. */
export function describePresenceContract(name: string, make: () => Promise<PresenceHarness>): void {
  describe(`Presence contract: ${name}`, () => {
    const room = (label: string, tenant = 't'): RoomKey => ({
      tenant,
      room: `${label}-${Math.random().toString(36).slice(2)}`,
    });
    const member = (
      attachmentId: string,
      gatewayId: string,
      clientId = `c-${attachmentId}`,
    ): PresenceMember => ({
      attachmentId,
      clientId,
      gatewayId,
    });
    const sorted = <T extends { attachmentId: string }>(list: readonly T[]): T[] =>
      [...list].sort((a, b) =>
        a.attachmentId < b.attachmentId ? -1 : a.attachmentId > b.attachmentId ? 1 : 0,
      );
    const roomIds = (keys: readonly RoomKey[]): string[] =>
      keys.map((k) => JSON.stringify([k.tenant, k.room])).sort();

    // Setup heartbeats use a TTL no slow machine outlives; the cases about expiry then switch to the harness's
    // short TTL (a heartbeat replaces the TTL), so only elapse and heartbeats run on the clock that matters.
    const steady = 60_000;

    /** Runs `body` with a harness and disposes it even when an assertion fails. */
    const withHarness = async (body: (h: PresenceHarness) => Promise<void>): Promise<void> => {
      const harness = await make();
      try {
        await body(harness);
      } finally {
        await harness.dispose();
      }
    };

    it('[PRESENCE-1] lists and counts the members of every gateway, from any instance', () =>
      withHarness(async ({ presences: [a, b] }) => {
        await a.heartbeat('gw-a', steady);
        await b.heartbeat('gw-b', steady);
        const k = room('lobby');
        await a.enter(k, member('a1', 'gw-a'));
        await a.enter(k, member('a2', 'gw-a'));
        await b.enter(k, member('b1', 'gw-b'));
        const expected = [member('a1', 'gw-a'), member('a2', 'gw-a'), member('b1', 'gw-b')];
        expect(sorted(await a.members(k))).toEqual(expected);
        expect(sorted(await b.members(k))).toEqual(expected);
        expect(await a.count(k)).toBe(3);
        expect(await b.count(room('empty'))).toBe(0);
        expect(await b.members(room('empty'))).toEqual([]);
        expect(roomIds(await b.roomsOf('gw-a'))).toEqual(roomIds([k]));
      }));

    it('[PRESENCE-2] exit removes that attachment only; exit of an unknown one is a no-op; enter is idempotent', () =>
      withHarness(async ({ presences: [a, b] }) => {
        await a.heartbeat('gw-a', steady);
        const k = room('exit');
        const other = room('other');
        await a.enter(k, member('a1', 'gw-a'));
        await a.enter(k, member('a1', 'gw-a'));
        await a.enter(k, member('a2', 'gw-a'));
        await a.enter(other, member('a3', 'gw-a'));
        expect(await a.count(k)).toBe(2);
        await b.exit(k, 'a1');
        await b.exit(k, 'never-entered');
        await b.exit(k, 'a3'); // in another room
        await b.exit(room('unknown'), 'a2');
        expect(await a.members(k)).toEqual([member('a2', 'gw-a')]);
        expect(await a.members(other)).toEqual([member('a3', 'gw-a')]);
        expect(roomIds(await a.roomsOf('gw-a'))).toEqual(roomIds([k, other]));
        await a.exit(k, 'a2');
        await a.exit(k, 'a2');
        expect(await a.count(k)).toBe(0);
        expect(roomIds(await a.roomsOf('gw-a'))).toEqual(roomIds([other]));
      }));

    it('[PRESENCE-3] one client on two gateways is two members (attachments, not people)', () =>
      withHarness(async ({ presences: [a, b] }) => {
        await a.heartbeat('gw-a', steady);
        await b.heartbeat('gw-b', steady);
        const k = room('twice');
        await a.enter(k, member('att-1', 'gw-a', 'alice'));
        await b.enter(k, member('att-2', 'gw-b', 'alice'));
        expect(await a.count(k)).toBe(2);
        expect(sorted(await b.members(k))).toEqual([
          member('att-1', 'gw-a', 'alice'),
          member('att-2', 'gw-b', 'alice'),
        ]);
      }));

    it('[PRESENCE-4] a gateway that stops heartbeating loses all its members in every room within one TTL', () =>
      withHarness(async ({ presences: [a, b], ttlMs, elapse }) => {
        await a.heartbeat('gw-a', steady);
        await b.heartbeat('gw-b', steady);
        const shared = room('shared');
        const onlyA = room('only-a');
        await a.enter(shared, member('a1', 'gw-a'));
        await a.enter(onlyA, member('a2', 'gw-a'));
        await b.enter(shared, member('b1', 'gw-b'));
        expect(await b.count(shared)).toBe(2);
        expect(await a.heartbeat('gw-a', ttlMs)).toBe(true); // its last one
        expect(await b.heartbeat('gw-b', ttlMs)).toBe(true);
        // gw-a goes silent; gw-b keeps its rhythm (a quarter TTL) until a full TTL and a bit have passed.
        for (let step = 0; step < 5; step++) {
          await elapse(ttlMs / 4);
          expect(await b.heartbeat('gw-b', ttlMs)).toBe(true);
        }
        await elapse(5);
        expect(await b.members(shared)).toEqual([member('b1', 'gw-b')]);
        expect(await b.count(onlyA)).toBe(0);
        expect(await b.roomsOf('gw-a')).toEqual([]);
        expect(roomIds(await b.roomsOf('gw-b'))).toEqual(roomIds([shared]));
      }));

    it('[PRESENCE-5] one heartbeat per gateway keeps all its members alive past several TTLs', () =>
      withHarness(async ({ presences: [a], ttlMs, elapse }) => {
        expect(await a.heartbeat('gw-a', steady)).toBe(false);
        const rooms = [room('r1'), room('r2')];
        for (const [i, k] of rooms.entries()) {
          for (let j = 0; j < 3; j++) await a.enter(k, member(`m${i}-${j}`, 'gw-a'));
        }
        for (let step = 0; step < 12; step++) {
          await elapse(ttlMs / 4);
          expect(await a.heartbeat('gw-a', ttlMs)).toBe(true);
        }
        for (const k of rooms) expect(await a.count(k)).toBe(3);
      }));

    it('[PRESENCE-6] a lapse is final: a gateway back after its TTL has no members until it re-enters them', () =>
      withHarness(async ({ presences: [a, b], ttlMs, elapse }) => {
        await a.heartbeat('gw-a', steady);
        const k = room('lapse');
        await a.enter(k, member('a1', 'gw-a'));
        await a.enter(k, member('a2', 'gw-a'));
        expect(await a.heartbeat('gw-a', ttlMs)).toBe(true); // its last one before it stalls
        await elapse(ttlMs + 20);
        expect(await a.heartbeat('gw-a', steady)).toBe(false);
        expect(await b.members(k)).toEqual([]);
        expect(await b.roomsOf('gw-a')).toEqual([]);
        await a.enter(k, member('a2', 'gw-a'));
        expect(await b.members(k)).toEqual([member('a2', 'gw-a')]);
        expect(roomIds(await b.roomsOf('gw-a'))).toEqual(roomIds([k]));
        // An enter while not live (before the first heartbeat) is dropped the same way.
        await b.enter(k, member('b1', 'gw-b'));
        expect(await b.heartbeat('gw-b', steady)).toBe(false);
        expect(await b.members(k)).toEqual([member('a2', 'gw-a')]);
      }));

    it('[PRESENCE-7] rooms, tenants and gateways are independent whatever characters their ids hold', () =>
      withHarness(async ({ presences: [a, b] }) => {
        const salt = Math.random().toString(36).slice(2);
        const keys: RoomKey[] = [
          { tenant: 'a', room: `x${salt}` },
          { tenant: 'b', room: `x${salt}` },
          { tenant: 'a:b', room: `c${salt}` },
          { tenant: 'a', room: `b:c${salt}` },
          { tenant: 'a|b', room: `*${salt}` },
          { tenant: 'a', room: `b|*${salt}` },
          { tenant: ' ', room: `room with spaces ${salt}` },
          { tenant: '', room: ` ${salt}` },
          { tenant: '日本', room: `🎮 ルーム${salt}` },
          { tenant: '%', room: `%0025${salt}` },
          { tenant: 'a', room: `{tag}\u0000\ud800${salt}` },
        ];
        const gateways = ['gw:1 *|é', 'gw:1', 'gw 1'];
        for (const gw of gateways) await a.heartbeat(gw, steady);
        for (const [i, k] of keys.entries()) {
          await b.enter(k, member(`att ${i}:|*`, gateways[i % gateways.length] ?? 'gw'));
        }
        for (const [i, k] of keys.entries()) {
          expect(await a.members(k)).toEqual([member(`att ${i}:|*`, gateways[i % gateways.length] ?? 'gw')]);
        }
        const expectedRooms = gateways.map((_, g) =>
          roomIds(keys.filter((_k, i) => i % gateways.length === g)),
        );
        for (const [g, gw] of gateways.entries())
          expect(roomIds(await a.roomsOf(gw))).toEqual(expectedRooms[g]);
        await a.exit(keys[0] ?? keys[1]!, 'att 0:|*');
        expect(await b.count(keys[1]!)).toBe(1);
      }));

    it('[PRESENCE-8] lists a room of 1,000 members across two gateways', () =>
      withHarness(async ({ presences: [a, b] }) => {
        await a.heartbeat('gw-a', steady);
        await b.heartbeat('gw-b', steady);
        const k = room('big');
        const expected = Array.from({ length: 1000 }, (_, i) =>
          member(`att-${String(i).padStart(4, '0')}`, i % 2 === 0 ? 'gw-a' : 'gw-b'),
        );
        await Promise.all(expected.map((m) => (m.gatewayId === 'gw-a' ? a : b).enter(k, m)));
        expect(sorted(await b.members(k))).toEqual(expected);
        expect(await a.count(k)).toBe(1000);
        await Promise.all(expected.slice(0, 10).map((m) => a.exit(k, m.attachmentId)));
        expect(sorted(await a.members(k))).toEqual(expected.slice(10));
      }));
  });
}
