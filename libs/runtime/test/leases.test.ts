import fc from 'fast-check';
import type { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { requireRedis, uniqueName } from '@p3/test-support';
import { capped } from '@p3/test-support/property';
import { MemoryMembership } from '../src/adapters/memory-membership.js';
import { MemoryRoomLeases } from '../src/adapters/memory-room-leases.js';
import { RedisMembership } from '../src/adapters/redis-membership.js';
import { RedisRoomLeases } from '../src/adapters/redis-room-leases.js';
import { placeRoom } from '../src/placement.js';
import { ManualClock } from '../src/ports/clock.js';
import { describeMembershipContract } from './membership.contract.js';
import { describeRoomLeaseContract } from './room-lease.contract.js';

// Every Redis key of this file starts with `<runPrefix>:`; each test gets its own sub-prefix, all deleted at the end.
const runPrefix = uniqueName('p3t');
let tests = 0;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A Redis-backed harness: every `open` is a new connection, like another process; `elapse` really waits. */
async function redisHarness<T>(ttlMs: number, open: (redis: Redis, prefix: string) => T) {
  const prefix = `${runPrefix}:${++tests}`;
  const clients: Redis[] = [];
  return {
    ttlMs,
    async open(): Promise<T> {
      const redis = await requireRedis();
      clients.push(redis);
      return open(redis, prefix);
    },
    // Redis expires keys to the millisecond; the slack covers the timer firing early relative to Redis's clock.
    elapse: (ms: number) => sleep(ms + 15),
    async dispose(): Promise<void> {
      await Promise.all(clients.map((redis) => redis.quit()));
    },
  };
}

function memoryHarness<T>(ttlMs: number, make: (clock: ManualClock) => T) {
  const clock = new ManualClock(1_000);
  const shared = make(clock);
  return {
    ttlMs,
    open: async () => shared,
    elapse: async (ms: number) => clock.advance(ms),
    dispose: async () => undefined,
  };
}

afterAll(async () => {
  const redis = await requireRedis();
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${runPrefix}:*`, 'COUNT', 1000);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    await redis.quit();
  }
});

describeRoomLeaseContract('memory', async () =>
  memoryHarness(1_000, (clock) => new MemoryRoomLeases({ clock })),
);
describeRoomLeaseContract('redis', () =>
  redisHarness(150, (redis, prefix) => new RedisRoomLeases({ redis, prefix })),
);
describeMembershipContract('memory', async () =>
  memoryHarness(1_000, (clock) => new MemoryMembership({ clock })),
);
describeMembershipContract('redis', () =>
  redisHarness(200, (redis, prefix) => new RedisMembership({ redis, prefix })),
);

describe('RedisRoomLeases keys', () => {
  it('[LEASE-9] keeps its keys under the prefix and the epoch counter after the lease is gone', async () => {
    const redis = await requireRedis();
    const prefix = `${runPrefix}:keys`;
    try {
      const leases = new RedisRoomLeases({ redis, prefix });
      const key = { tenant: 'a:b', room: 'c d*' };
      const grant = await leases.claim(key, 'sim-a', 5_000);
      expect(grant.granted).toBe(true);
      expect((await redis.keys(`${prefix}:*`)).sort()).toEqual([
        `${prefix}:epoch:a~003ab:c~0020d~002a`,
        `${prefix}:lease:a~003ab:c~0020d~002a`,
      ]);
      expect(await redis.get(`${prefix}:lease:a~003ab:c~0020d~002a`)).toBe(
        `sim-a|${grant.granted ? grant.epoch : -1}`,
      );
      if (grant.granted) await leases.release(key, 'sim-a', grant.epoch);
      expect(await redis.keys(`${prefix}:*`)).toEqual([`${prefix}:epoch:a~003ab:c~0020d~002a`]);
    } finally {
      await redis.quit();
    }
  });
  it('[LEASE-10] grants epochs above every earlier one after Redis lost its keys (a restart without AOF)', async () => {
    const redis = await requireRedis();
    const prefix = `${runPrefix}:restart`;
    try {
      const leases = new RedisRoomLeases({ redis, prefix });
      const key = { tenant: 't', room: 'r' };
      const epochs: number[] = [];
      for (let round = 0; round < 3; round++) {
        const grant = await leases.claim(key, `sim-${round}`, 5_000);
        if (!grant.granted) throw new Error('claim refused');
        epochs.push(grant.epoch);
        const again = await leases.claim(key, 'sim-x', 5_000);
        expect(again.granted).toBe(false);
        await leases.release(key, `sim-${round}`, grant.epoch);
        const next = await leases.claim(key, `sim-${round}b`, 5_000);
        if (!next.granted) throw new Error('claim refused');
        epochs.push(next.epoch);
        // What a restart without AOF leaves: nothing.
        await redis.del(...(await redis.keys(`${prefix}:*`)));
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      for (let i = 1; i < epochs.length; i++) expect(epochs[i]).toBeGreaterThan(epochs[i - 1]!);
      // Redis's clock in ms: the first epoch is a time, not 1.
      expect(Math.abs(epochs[0]! - Date.now())).toBeLessThan(60_000);
    } finally {
      await redis.quit();
    }
  });
});

describe('placeRoom', () => {
  const memberIds = fc.uniqueArray(fc.string({ minLength: 1, maxLength: 10, unit: 'binary' }), {
    minLength: 1,
    maxLength: 12,
  });
  const roomKey = fc.record({
    tenant: fc.string({ maxLength: 8, unit: 'binary' }),
    room: fc.string({ maxLength: 16, unit: 'binary' }),
  });
  const roomKeys = fc.array(roomKey, { minLength: 1, maxLength: 60 });

  it('[PLACE-1] places a room on one of the given members, whatever their order, the same in every process', () => {
    expect(placeRoom({ tenant: 't', room: 'r' }, [])).toBeUndefined();
    // Pinned answers: every simulator and gateway of a rolling deploy must agree, so the hash may never change.
    const members = ['sim-0', 'sim-1', 'sim-2', 'sim-3', 'sim-4'];
    const rooms = ['lobby', 'r/1', 'ü 房间 🎲', 'a', 'b', 'c'];
    expect(rooms.map((room) => placeRoom({ tenant: 'acme', room }, members))).toEqual([
      'sim-1',
      'sim-2',
      'sim-3',
      'sim-2',
      'sim-2',
      'sim-1',
    ]);
    fc.assert(
      fc.property(memberIds, roomKey, fc.integer(), (members, key, seed) => {
        const placed = placeRoom(key, members);
        expect(members).toContain(placed);
        const turn = Math.abs(seed) % members.length;
        const shuffled = [...members.slice(turn), ...members.slice(0, turn)].reverse();
        shuffled.push(...members.filter((_, i) => (i + seed) % 3 === 0)); // duplicates change nothing either
        expect(placeRoom(key, shuffled)).toBe(placed);
        expect(placeRoom({ ...key }, [...members])).toBe(placed);
      }),
      capped({ numRuns: 300 }),
    );
  });

  it('[PLACE-2] moves, when a member joins, only the rooms that now go to it', () => {
    fc.assert(
      fc.property(
        memberIds,
        fc.string({ minLength: 1, maxLength: 10 }),
        roomKeys,
        (members, joiner, rooms) => {
          fc.pre(!members.includes(joiner));
          for (const key of rooms) {
            const after = placeRoom(key, [...members, joiner]);
            if (after !== joiner) expect(after).toBe(placeRoom(key, members));
          }
        },
      ),
      capped({ numRuns: 200 }),
    );
  });

  it('[PLACE-3] moves, when a member leaves, only the rooms it had', () => {
    fc.assert(
      fc.property(memberIds, fc.nat(), roomKeys, (members, pick, rooms) => {
        fc.pre(members.length > 1);
        const leaver = members[pick % members.length]!;
        const rest = members.filter((m) => m !== leaver);
        for (const key of rooms) {
          const before = placeRoom(key, members);
          const after = placeRoom(key, rest);
          if (before === leaver) expect(rest).toContain(after);
          else expect(after).toBe(before);
        }
      }),
      capped({ numRuns: 200 }),
    );
  });

  it('[PLACE-4] spreads 10,000 rooms over 10 members within 0.7x..1.3x of the mean each', () => {
    const spread = (members: readonly string[], tenant: string): number[] => {
      const counts = new Map(members.map((m) => [m, 0]));
      for (let i = 0; i < 10_000; i++) {
        const owner = placeRoom({ tenant, room: `room-${i}` }, members)!;
        counts.set(owner, (counts.get(owner) ?? 0) + 1);
      }
      return [...counts.values()];
    };
    const simulators = Array.from({ length: 10 }, (_, i) => `sim-${i}`);
    for (const count of spread(simulators, 'acme')) {
      expect(count).toBeGreaterThanOrEqual(700);
      expect(count).toBeLessThanOrEqual(1300);
    }
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 12 }), { minLength: 10, maxLength: 10 }),
        fc.string({ maxLength: 8 }),
        (members, tenant) => {
          for (const count of spread(members, tenant)) {
            expect(count).toBeGreaterThanOrEqual(700);
            expect(count).toBeLessThanOrEqual(1300);
          }
        },
      ),
      capped({ numRuns: 10 }),
    );
  });
});
