import type { Redis } from 'ioredis';
import type { SimulatorInfo, Membership } from '../ports/membership.js';

export interface RedisMembershipOptions {
  /** The caller's client; `close()` leaves it open. */
  readonly redis: Redis;
  /** Keys are `<prefix>:members` and `<prefix>:members:info` (default prefix `p3`). */
  readonly prefix?: string;
}

// Every script reads Redis's TIME instead of taking a timestamp from the caller: simulators with skewed clocks
// then agree on who is live. Redis 5+ replicates script effects, so TIME before a write is allowed. Each script
// first drops the members that expired (and their info) so the set holds only the live ones.
const PRUNE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
if #expired > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
  redis.call('HDEL', KEYS[2], unpack(expired))
end`;

const JOIN = `${PRUNE}
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return 1`;

// XX: a heartbeat never adds a member that expired or left; it has to join again.
const HEARTBEAT = `${PRUNE}
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[1])
return 1`;

const MEMBERS = `${PRUNE}
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')`;

const INFO = `${PRUNE}
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return false end
return redis.call('HGET', KEYS[2], ARGV[1])`;

/** The scripts as ioredis exposes them after `defineCommand` (EVALSHA, falling back to EVAL on NOSCRIPT). */
interface MembershipScripts {
  p3MemberJoin(set: string, infos: string, memberId: string, ttlMs: number, info: string): Promise<number>;
  p3MemberHeartbeat(set: string, infos: string, memberId: string, ttlMs: number): Promise<number>;
  p3Members(set: string, infos: string): Promise<string[]>;
  p3MemberInfo(set: string, infos: string, memberId: string): Promise<string | null>;
}

/**
 * Simulator membership in Redis: a sorted set of member ids scored by their expiry time (Redis's clock, ms), and
 * a hash of the info each joined with. Expired members are removed lazily by whichever call comes next.
 */
export class RedisMembership implements Membership {
  private readonly redis: Redis;
  private readonly scripts: MembershipScripts;
  private readonly set: string;
  private readonly infos: string;

  constructor(options: RedisMembershipOptions) {
    const prefix = options.prefix ?? 'p3';
    this.set = `${prefix}:members`;
    this.infos = `${prefix}:members:info`;
    this.redis = options.redis;
    this.redis.defineCommand('p3MemberJoin', { numberOfKeys: 2, lua: JOIN });
    this.redis.defineCommand('p3MemberHeartbeat', { numberOfKeys: 2, lua: HEARTBEAT });
    this.redis.defineCommand('p3Members', { numberOfKeys: 2, lua: MEMBERS });
    this.redis.defineCommand('p3MemberInfo', { numberOfKeys: 2, lua: INFO });
    // defineCommand adds methods ioredis cannot type; MembershipScripts states their shape once, here.
    this.scripts = this.redis as unknown as MembershipScripts;
  }

  async join(memberId: string, ttlMs: number, info: SimulatorInfo = {}): Promise<void> {
    checkTtl(ttlMs);
    await this.scripts.p3MemberJoin(this.set, this.infos, memberId, ttlMs, JSON.stringify(info));
  }

  async heartbeat(memberId: string, ttlMs: number): Promise<boolean> {
    checkTtl(ttlMs);
    return (await this.scripts.p3MemberHeartbeat(this.set, this.infos, memberId, ttlMs)) === 1;
  }

  async leave(memberId: string): Promise<void> {
    await this.redis.multi().zrem(this.set, memberId).hdel(this.infos, memberId).exec();
  }

  async members(): Promise<string[]> {
    // Redis orders by score (expiry); the port promises code unit order, as the memory adapter gives.
    return (await this.scripts.p3Members(this.set, this.infos)).sort();
  }

  async info(memberId: string): Promise<SimulatorInfo | null> {
    const json = await this.scripts.p3MemberInfo(this.set, this.infos, memberId);
    return json === null ? null : (JSON.parse(json) as SimulatorInfo);
  }

  async close(): Promise<void> {}
}

function checkTtl(ttlMs: number): void {
  if (!Number.isInteger(ttlMs) || ttlMs <= 0)
    throw new RangeError(`ttlMs must be a positive integer, got ${ttlMs}`);
}
