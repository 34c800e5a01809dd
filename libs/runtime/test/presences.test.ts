import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { requireRedis, uniqueName } from '@p3/test-support';
import { ManualClock } from '../src/ports/clock.js';
import { MemoryPresence, MemoryPresenceStore } from '../src/adapters/memory-presence.js';
import { RedisPresence } from '../src/adapters/redis-presence.js';
import { describePresenceContract, type PresenceHarness } from './presence.contract.js';

describePresenceContract('memory', async () => {
  const clock = new ManualClock(1_000);
  const store = new MemoryPresenceStore(clock);
  const presences = [new MemoryPresence(store), new MemoryPresence(store)] as const;
  return {
    presences,
    ttlMs: 3_000,
    elapse: async (ms) => clock.advance(ms),
    dispose: async () => {
      for (const presence of presences) await presence.close();
    },
  };
});

/** Every key under the prefix (the prefix is unique to one harness, and has no glob characters). */
async function keysUnder(redis: Redis, prefix: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    found.push(...keys);
    cursor = next;
  } while (cursor !== '0');
  return found;
}

async function deleteKeys(redis: Redis, prefix: string): Promise<void> {
  const keys = await keysUnder(redis, prefix);
  if (keys.length > 0) await redis.del(...keys);
}

/** Two gateways, each with its own connection, on the local Redis under a prefix of their own. */
async function redisHarness(): Promise<
  PresenceHarness & { readonly clients: readonly Redis[]; prefix: string }
> {
  const clients = [await requireRedis(), await requireRedis()] as const;
  const prefix = uniqueName('p3t');
  const presences = [
    new RedisPresence({ redis: clients[0], prefix }),
    new RedisPresence({ redis: clients[1], prefix }),
  ] as const;
  return {
    presences,
    clients,
    prefix,
    // Real time: long enough to survive a loaded CI core, short enough to keep the file fast.
    ttlMs: 200,
    elapse: (ms) => sleep(ms),
    dispose: async () => {
      for (const presence of presences) await presence.close();
      await deleteKeys(clients[0], prefix);
      for (const client of clients) await client.quit();
    },
  };
}

describePresenceContract('redis', redisHarness);

describe('RedisPresence', () => {
  it('[PRESENCE-9] members and count of a 1,000-member room cost one command each, not one per member', async () => {
    const harness = await redisHarness();
    try {
      const [a] = harness.presences;
      const client = harness.clients[0]!;
      await a.heartbeat('gw-a', 10_000);
      const k = { tenant: 't', room: 'big' };
      await Promise.all(
        Array.from({ length: 1000 }, (_, i) =>
          a.enter(k, { attachmentId: `a${i}`, clientId: `c${i}`, gatewayId: 'gw-a' }),
        ),
      );
      await a.count(k); // loads the script, so the counted calls below never need the EVAL fallback

      let commands = 0;
      const send = client.sendCommand.bind(client);
      client.sendCommand = ((...args: Parameters<Redis['sendCommand']>) => {
        commands += 1;
        return send(...args);
      }) as Redis['sendCommand'];
      expect((await a.members(k)).length).toBe(1000);
      expect(commands).toBe(1);
      expect(await a.count(k)).toBe(1000);
      expect(commands).toBe(2);
    } finally {
      await harness.dispose();
    }
  });

  it('leaves no keys behind once a harness is disposed', async () => {
    const harness = await redisHarness();
    const [a] = harness.presences;
    await a.heartbeat('gw', 10_000);
    await a.enter({ tenant: 't', room: 'r' }, { attachmentId: 'x', clientId: 'c', gatewayId: 'gw' });
    const probe = await requireRedis();
    try {
      await harness.dispose();
      expect(await keysUnder(probe, harness.prefix)).toEqual([]);
    } finally {
      await probe.quit();
    }
  });
});
