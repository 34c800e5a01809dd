import type { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { requireRedis, uniqueName, waitFor } from '@p3/test-support';
import { MemoryMembership } from '../src/adapters/memory-membership.js';
import { MemoryRoomLeases } from '../src/adapters/memory-room-leases.js';
import { RedisMembership } from '../src/adapters/redis-membership.js';
import { RedisRoomLeases } from '../src/adapters/redis-room-leases.js';
import { placeRoom } from '../src/placement.js';
import { ManualClock, systemClock, type Clock } from '../src/ports/clock.js';
import type { Membership } from '../src/ports/membership.js';
import type { RoomLeases } from '../src/ports/room-lease.js';
import { ManualScheduler, timerScheduler, type Cancel, type Scheduler } from '../src/ports/scheduler.js';
import type { RoomKey } from '../src/ports/snapshot-store.js';
import { RoomOwnership } from '../src/room-ownership.js';

const TTL = 300;
const rooms = (n: number): RoomKey[] => Array.from({ length: n }, (_, i) => ({ tenant: 't', room: `r${i}` }));
const name = (key: RoomKey) => key.room;
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * One simulator's view of a shared scheduler that can be frozen, like a process stopped by SIGSTOP or a long GC
 * pause: while frozen nothing it scheduled runs; on thaw the overdue callbacks run at once, in order.
 */
class FreezableScheduler implements Scheduler {
  private frozen = false;
  private held: Array<() => void> = [];
  live = 0;

  constructor(private readonly inner: Scheduler) {}

  after(ms: number, run: () => void): Cancel {
    let state: 'waiting' | 'done' = 'waiting';
    this.live++;
    const fire = () => {
      if (state === 'done') return;
      state = 'done';
      this.live--;
      run();
    };
    const cancelInner = this.inner.after(ms, () => (this.frozen ? this.held.push(fire) : fire()));
    return () => {
      if (state === 'waiting') this.live--;
      state = 'done';
      cancelInner();
    };
  }

  freeze(): void {
    this.frozen = true;
  }

  thaw(): void {
    this.frozen = false;
    for (const run of this.held.splice(0)) run();
  }
}

interface Sim {
  readonly id: string;
  readonly own: RoomOwnership;
  readonly scheduler: FreezableScheduler;
  readonly events: string[];
  readonly lost: Array<[string, number]>;
}

function makeSim(
  id: string,
  ports: { leases: RoomLeases; membership: Membership; scheduler: Scheduler; clock: Clock },
  onHandoff: (key: RoomKey) => Promise<void> = async () => undefined,
): Sim {
  const scheduler = new FreezableScheduler(ports.scheduler);
  const events: string[] = [];
  const lost: Array<[string, number]> = [];
  // Records this simulator's releases, so tests can check that the final snapshot came first.
  const leases: RoomLeases = {
    claim: (key, owner, ttl) => ports.leases.claim(key, owner, ttl),
    renew: (key, owner, epoch, ttl) => ports.leases.renew(key, owner, epoch, ttl),
    release: (key, owner, epoch) => {
      events.push(`release ${name(key)}`);
      return ports.leases.release(key, owner, epoch);
    },
    holder: (key) => ports.leases.holder(key),
    close: () => ports.leases.close(),
  };
  const own = new RoomOwnership({
    memberId: id,
    leases,
    membership: ports.membership,
    scheduler,
    clock: ports.clock,
    leaseTtlMs: TTL,
    memberTtlMs: TTL,
    onLost: (key, epoch) => void lost.push([name(key), epoch]),
    onHandoff: async (key) => {
      events.push(`handoff ${name(key)}`);
      await onHandoff(key);
    },
  });
  return { id, own, scheduler, events, lost };
}

/** A cluster on memory adapters sharing one manual clock; `run` moves time 1 ms at a time and checks safety. */
function memoryCluster() {
  const clock = new ManualClock(1_000);
  const scheduler = new ManualScheduler(clock);
  const ports = {
    leases: new MemoryRoomLeases({ clock }),
    membership: new MemoryMembership({ clock }),
    scheduler,
    clock,
  };
  const sims: Sim[] = [];
  const assertSingleOwners = () => {
    const seen = new Map<string, string>();
    for (const sim of sims)
      for (const { key } of sim.own.owned()) {
        const other = seen.get(name(key));
        if (other !== undefined)
          throw new Error(`${name(key)} believed owned by ${other} and ${sim.id} at ${clock.now()}`);
        seen.set(name(key), sim.id);
      }
  };
  return {
    clock,
    ports,
    async add(id: string, onHandoff?: (key: RoomKey) => Promise<void>): Promise<Sim> {
      const sim = makeSim(id, ports, onHandoff);
      sims.push(sim);
      await sim.own.start();
      return sim;
    },
    assertSingleOwners,
    /** Advances `ms`, one millisecond per step, letting promises settle and checking safety at every instant. */
    async run(ms: number, each?: () => Promise<void>): Promise<void> {
      for (let i = 0; i < ms; i++) {
        scheduler.advance(1);
        assertSingleOwners();
        await settle();
        assertSingleOwners();
        if (each) await each();
        assertSingleOwners();
      }
    },
  };
}

/** Each simulator asks for every room; returns who owns what. */
async function acquireAll(
  sims: Sim[],
  keys: RoomKey[],
): Promise<Map<string, { owner: string; epoch: number }>> {
  const owners = new Map<string, { owner: string; epoch: number }>();
  for (const key of keys)
    for (const sim of sims) {
      const answer = await sim.own.acquire(key);
      if (answer.owned) owners.set(name(key), { owner: sim.id, epoch: answer.epoch });
    }
  return owners;
}

describe('RoomOwnership (memory, manual clock)', () => {
  it('[OWN-1] every room is owned by exactly the member placement picks; the other names the owner', async () => {
    const cluster = memoryCluster();
    const a = await cluster.add('sim-a');
    const b = await cluster.add('sim-b');
    const keys = rooms(100);
    for (const key of keys) {
      const answers = [await a.own.acquire(key), await b.own.acquire(key)];
      const owner = placeRoom(key, ['sim-a', 'sim-b']);
      const [mine, theirs] = owner === 'sim-a' ? answers : [answers[1], answers[0]];
      expect(mine).toMatchObject({ owned: true });
      expect(theirs).toEqual({ owned: false, owner });
      // Asking again is idempotent: same epoch, no second claim.
      expect(await (owner === 'sim-a' ? a : b).own.acquire(key)).toEqual(mine);
    }
    const countA = a.own.owned().length;
    expect(countA + b.own.owned().length).toBe(100);
    expect(countA).toBeGreaterThan(30);
    expect(countA).toBeLessThan(70);
    // The leases outlive many TTLs while both keep renewing.
    await cluster.run(TTL * 4);
    expect(a.own.owned().length + b.own.owned().length).toBe(100);
    expect(a.lost.concat(b.lost)).toEqual([]);
  });

  it('[OWN-2] a crashed member loses its rooms after the TTL; never two believed owners; onLost when it wakes', async () => {
    const cluster = memoryCluster();
    const a = await cluster.add('sim-a');
    const b = await cluster.add('sim-b');
    const keys = rooms(100);
    const before = await acquireAll([a, b], keys);
    const aRooms = a.own.owned();
    expect(aRooms.length).toBeGreaterThan(0);

    a.scheduler.freeze(); // no heartbeat, no renew, nothing released
    let tick = 0;
    await cluster.run(TTL * 2, async () => {
      if (++tick % 10 !== 0) return;
      await b.own.rebalance();
      for (const key of keys) await b.own.acquire(key);
    });
    expect(b.own.owned()).toHaveLength(100);
    for (const { key, epoch } of b.own.owned())
      expect(epoch).toBeGreaterThanOrEqual(before.get(name(key))!.epoch);
    for (const { key, epoch } of aRooms) {
      const now = b.own.owned().find((r) => name(r.key) === name(key))!;
      expect(now.epoch).toBeGreaterThan(epoch);
    }
    // Belief ended by the local clock while frozen; waking up, it stops each room exactly once.
    expect(a.own.owned()).toEqual([]);
    expect(a.lost).toEqual([]);
    a.scheduler.thaw();
    await cluster.run(TTL);
    expect(a.lost.sort()).toEqual(aRooms.map((r): [string, number] => [name(r.key), r.epoch]).sort());
    expect(a.scheduler.live).toBe(1); // only the heartbeat is left
  });

  it('[OWN-2] a refused renew stops the room at that renew, before its proven time ends', async () => {
    const cluster = memoryCluster();
    const a = await cluster.add('sim-a');
    const key = rooms(1)[0]!;
    const grant = await a.own.acquire(key);
    if (!grant.owned) throw new Error('expected a grant');
    // The lease vanishes behind its back (an operator, a store failover) and another member takes it.
    await cluster.ports.leases.release(key, 'sim-a', grant.epoch);
    const other = await cluster.ports.leases.claim(key, 'sim-x', TTL);
    expect(other).toMatchObject({ granted: true });
    await cluster.run(100); // the next renew, well before the deadline at +300
    expect(a.lost).toEqual([['r0', grant.epoch]]);
    expect(a.own.owned()).toEqual([]);
    await cluster.run(TTL);
    expect(a.lost).toHaveLength(1);
  });

  it('[OWN-3] a renew that errors keeps the room until the proven time ends, then counts as lost', async () => {
    const cluster = memoryCluster();
    let down = false;
    const real = cluster.ports.leases;
    cluster.ports.leases = Object.assign(Object.create(real) as MemoryRoomLeases, {
      renew: (key: RoomKey, owner: string, epoch: number, ttl: number) =>
        down ? Promise.reject(new Error('redis down')) : real.renew(key, owner, epoch, ttl),
    });
    const a = await cluster.add('sim-a');
    const key = rooms(1)[0]!;
    expect(await a.own.acquire(key)).toMatchObject({ owned: true });
    await cluster.run(TTL); // renewed at least twice
    down = true;
    const lastRenew = cluster.clock.now() - ((cluster.clock.now() - 1_000) % 100); // renews run every 100 ms
    const expires = lastRenew + TTL;
    await cluster.run(expires - cluster.clock.now() - 1);
    expect(a.own.owned()).toHaveLength(1);
    expect(a.lost).toEqual([]);
    await cluster.run(1);
    expect(a.own.owned()).toEqual([]);
    expect(a.lost).toHaveLength(1);
    // Lost by the local clock no later than the store: the store lets nobody claim before this instant.
    expect(await real.holder(key)).toBeNull();
  });

  it('[OWN-4] a joining member takes only the rooms placement moves to it: handoff, then release, higher epochs', async () => {
    const cluster = memoryCluster();
    // The final snapshot takes 5 ms, during which the room must stay owned by the old member only.
    const slowHandoff = () => cluster.run(5);
    const a = await cluster.add('sim-a', slowHandoff);
    const b = await cluster.add('sim-b', slowHandoff);
    const keys = rooms(100);
    const before = await acquireAll([a, b], keys);
    const c = await cluster.add('sim-c');
    const moving = keys.filter((key) => placeRoom(key, ['sim-a', 'sim-b', 'sim-c']) === 'sim-c');
    expect(moving.length).toBeGreaterThan(10);
    // Before the handoff, the newcomer is refused and told who holds the lease.
    expect(await c.own.acquire(moving[0]!)).toEqual({
      owned: false,
      owner: before.get(name(moving[0]!))!.owner,
    });

    await Promise.all([a.own.rebalance(), b.own.rebalance()]);
    const handedOff = [...a.events, ...b.events]
      .filter((e) => e.startsWith('handoff'))
      .map((e) => e.slice(8));
    expect(handedOff.sort()).toEqual(moving.map(name).sort());
    for (const sim of [a, b])
      for (const event of sim.events.filter((e) => e.startsWith('release')))
        expect(sim.events.indexOf(`handoff ${event.slice(8)}`)).toBeLessThan(sim.events.indexOf(event));

    const after = await acquireAll([a, b, c], keys);
    for (const key of keys) {
      const was = before.get(name(key))!;
      const now = after.get(name(key))!;
      if (moving.includes(key)) {
        expect(now.owner).toBe('sim-c');
        expect(now.epoch).toBeGreaterThan(was.epoch);
      } else expect(now).toEqual(was);
    }
    expect([a, b, c].flatMap((s) => s.lost)).toEqual([]);
  });

  it('[OWN-5] stop() hands every room off, releases it, leaves membership and clears its timers', async () => {
    const cluster = memoryCluster();
    const a = await cluster.add('sim-a');
    const b = await cluster.add('sim-b');
    const keys = rooms(40);
    await acquireAll([a, b], keys);
    const aRooms = a.own.owned().map((r) => name(r.key));
    await a.own.stop();
    expect(a.events.filter((e) => e.startsWith('handoff')).length).toBe(aRooms.length);
    expect(a.events.filter((e) => e.startsWith('release')).length).toBe(aRooms.length);
    for (const key of keys.filter((k) => aRooms.includes(name(k))))
      expect(await cluster.ports.leases.holder(key)).toBeNull();
    expect(await cluster.ports.membership.members()).toEqual(['sim-b']);
    expect(a.scheduler.live).toBe(0);
    expect(await a.own.acquire(keys[0]!)).toEqual({ owned: false });
    // The survivor takes them at once, without waiting for any TTL.
    expect((await acquireAll([b], keys)).size).toBe(40);
  });
  it('[OWN-6] avoid: a silent holder is skipped by placement and its rooms claimed the moment their leases expire, a live one is named after one wait', async () => {
    const cluster = memoryCluster();
    const a = await cluster.add('sim-a');
    const b = await cluster.add('sim-b');
    const keys = rooms(40).filter((key) => placeRoom(key, ['sim-a', 'sim-b']) === 'sim-a');
    await acquireAll([a, b], keys);
    const [dead, alive] = keys;
    // Without avoid, b names a (placement) while a's membership lives.
    expect(await b.own.acquire(dead!)).toEqual({ owned: false, owner: 'sim-a' });

    // a is alive and renewing: b waits one lease out, then names the holder.
    let answer: Awaited<ReturnType<RoomOwnership['acquire']>> | undefined;
    void b.own.acquire(alive!, { avoid: ['sim-a'] }).then((result) => (answer = result));
    await cluster.run(TTL + 30);
    expect(answer).toEqual({ owned: false, owner: 'sim-a' });

    // a dies (kill -9): b, asked to avoid it, owns the room right when the lease runs out, not a membership TTL later.
    a.scheduler.freeze();
    const frozenAt = cluster.clock.now();
    const lease = await cluster.ports.leases.holder(dead!);
    const expiresAt = frozenAt + (lease?.expiresInMs ?? 0);
    let ownedAt: number | undefined;
    void b.own.acquire(dead!, { avoid: ['sim-a'] }).then((result) => {
      if (result.owned) ownedAt = cluster.clock.now();
    });
    await cluster.run(TTL + 50);
    expect(ownedAt).toBeDefined();
    expect(ownedAt!).toBeGreaterThanOrEqual(expiresAt);
    expect(ownedAt! - expiresAt).toBeLessThanOrEqual(25);
  });
});

describe('RoomOwnership (Redis, real timers)', () => {
  const prefix = uniqueName('p3t');
  const clients: Redis[] = [];

  afterAll(async () => {
    const redis = await requireRedis();
    try {
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length > 0) await redis.del(...keys);
    } finally {
      await Promise.all([redis, ...clients].map((client) => client.quit()));
    }
  });

  it('[OWN-2] a member that stops renewing loses its 20 rooms to the other within a second', async () => {
    const open = async (id: string) => {
      const redis = await requireRedis(); // one connection per simulator, like two processes
      clients.push(redis);
      const ports = {
        leases: new RedisRoomLeases({ redis, prefix }),
        membership: new RedisMembership({ redis, prefix }),
        scheduler: timerScheduler,
        clock: systemClock,
      };
      const sim = makeSim(id, ports);
      await sim.own.start();
      return sim;
    };
    const [a, b] = [await open('sim-a'), await open('sim-b')];
    const keys = rooms(20);
    const before = await acquireAll([a, b], keys);
    expect(before.size).toBe(20);
    const aRooms = a.own.owned();
    expect(aRooms.length).toBeGreaterThan(0);

    a.scheduler.freeze();
    const started = Date.now();
    await waitFor(
      async () => {
        await b.own.rebalance();
        await acquireAll([b], keys);
        return b.own.owned().length;
      },
      (n) => n === 20,
      'the survivor to own every room',
      1_500,
    );
    expect(Date.now() - started).toBeLessThan(1_500);
    expect(a.own.owned()).toEqual([]);
    for (const { key, epoch } of b.own.owned())
      expect(epoch).toBeGreaterThanOrEqual(before.get(name(key))!.epoch);
    for (const { key, epoch } of aRooms)
      expect(b.own.owned().find((r) => name(r.key) === name(key))!.epoch).toBeGreaterThan(epoch);

    a.scheduler.thaw();
    await waitFor(
      () => a.lost.length,
      (n) => n === aRooms.length,
      'onLost for every room of the frozen member',
      1_000,
    );
    await a.own.stop();
    await b.own.stop();
  });
});
