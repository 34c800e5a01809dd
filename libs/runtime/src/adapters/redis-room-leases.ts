import type { Redis } from 'ioredis';
import type { LeaseGrant, LeaseHeld, LeaseHolder, RoomLeases } from '../ports/room-lease.js';
import type { RoomKey } from '../ports/snapshot-store.js';
import { encodeIdToken } from '../id-token.js';

export interface RedisRoomLeasesOptions {
  /** The caller's client; `close()` leaves it open. */
  readonly redis: Redis;
  /** Every key starts with `<prefix>:` (default `p3`). */
  readonly prefix?: string;
}

// The check and the INCR happen in one script. With INCR first and SET NX after, as two round trips, claimant A
// could INCR to 5, B INCR to 6 and win, release, and then A's late SET NX would win with 5: a grant older than
// one already handed out, which breaks fencing. Inside the script no epoch is consumed by a refused claim either.
// The epoch key never expires: it must outlive every lease of the room. A Redis that restarted without AOF (buffers
// and presence are fine to lose) has lost it, though, and counting again from 1 would hand out epochs that gateways
// and the snapshot store already saw from deposed owners. So a missing counter starts at Redis's clock in ms: every
// epoch granted before was at most (start + grants since), which is below now unless the room was granted more
// leases than milliseconds passed, or Redis's clock stepped back by more than the time since the room first opened.
const CLAIM = `
local current = redis.call('GET', KEYS[1])
if current then return {0, current, redis.call('PTTL', KEYS[1])} end
if redis.call('EXISTS', KEYS[2]) == 0 then
  local t = redis.call('TIME')
  redis.call('SET', KEYS[2], string.format('%.0f', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)))
end
local epoch = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. epoch, 'NX', 'PX', ARGV[2])
return {1, tostring(epoch), tonumber(ARGV[2])}`;

// Compare and act in one step, so a lease that expired and was claimed by another between a GET and a PEXPIRE/DEL
// can never be extended or deleted by its former owner.
const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`;

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

// GET and PTTL together, so the holder and its remaining time describe the same lease.
const HOLDER = `
local current = redis.call('GET', KEYS[1])
if not current then return false end
return {current, redis.call('PTTL', KEYS[1])}`;

/** The scripts as ioredis exposes them after `defineCommand` (EVALSHA, falling back to EVAL on NOSCRIPT). */
interface LeaseScripts {
  p3LeaseClaim(
    lease: string,
    epochKey: string,
    owner: string,
    ttlMs: number,
  ): Promise<[number, string, number]>;
  p3LeaseRenew(lease: string, value: string, ttlMs: number): Promise<number>;
  p3LeaseRelease(lease: string, value: string): Promise<number>;
  p3LeaseHolder(lease: string): Promise<[string, number] | null>;
}

/**
 * Room leases in Redis: the lease is `<prefix>:lease:<tenant>:<room>` = `<owner>|<epoch>` with a PX expiry, the
 * epoch comes from `INCR <prefix>:epoch:<tenant>:<room>`. Expiry is by Redis's clock, so simulators with skewed
 * clocks agree on who holds a room. Tenant and room are escaped (see `keyPart`), so any characters are safe.
 *
 * Epochs start at Redis's clock in ms and count up from there, so a Redis that restarted empty still grants epochs
 * above every earlier one (see CLAIM); AOF keeps the counters and the leases across a restart as well.
 */
export class RedisRoomLeases implements RoomLeases {
  private readonly scripts: LeaseScripts;
  private readonly prefix: string;

  constructor(options: RedisRoomLeasesOptions) {
    this.prefix = options.prefix ?? 'p3';
    const redis = options.redis;
    redis.defineCommand('p3LeaseClaim', { numberOfKeys: 2, lua: CLAIM });
    redis.defineCommand('p3LeaseRenew', { numberOfKeys: 1, lua: RENEW });
    redis.defineCommand('p3LeaseRelease', { numberOfKeys: 1, lua: RELEASE });
    redis.defineCommand('p3LeaseHolder', { numberOfKeys: 1, lua: HOLDER, readOnly: true });
    // defineCommand adds methods ioredis cannot type; LeaseScripts states their shape once, here.
    this.scripts = redis as unknown as LeaseScripts;
  }

  async claim(key: RoomKey, owner: string, ttlMs: number): Promise<LeaseGrant | LeaseHeld> {
    checkTtl(ttlMs);
    const [granted, value, ttl] = await this.scripts.p3LeaseClaim(
      this.key('lease', key),
      this.key('epoch', key),
      owner,
      ttlMs,
    );
    if (granted === 1) return { granted: true, epoch: Number(value), expiresInMs: ttl };
    return { granted: false, holder: parseHolder(value, ttl) };
  }

  async renew(key: RoomKey, owner: string, epoch: number, ttlMs: number): Promise<boolean> {
    checkTtl(ttlMs);
    return (await this.scripts.p3LeaseRenew(this.key('lease', key), `${owner}|${epoch}`, ttlMs)) === 1;
  }

  async release(key: RoomKey, owner: string, epoch: number): Promise<boolean> {
    return (await this.scripts.p3LeaseRelease(this.key('lease', key), `${owner}|${epoch}`)) === 1;
  }

  async holder(key: RoomKey): Promise<LeaseHolder | null> {
    const found = await this.scripts.p3LeaseHolder(this.key('lease', key));
    return found ? parseHolder(found[0], found[1]) : null;
  }

  async close(): Promise<void> {}

  private key(kind: 'lease' | 'epoch', key: RoomKey): string {
    return `${this.prefix}:${kind}:${encodeIdToken(key.tenant)}:${encodeIdToken(key.room)}`;
  }
}

/** `<owner>|<epoch>`: the owner may hold `|`, the epoch never does, so the last `|` splits them. */
function parseHolder(value: string, ttl: number): LeaseHolder {
  const bar = value.lastIndexOf('|');
  return { owner: value.slice(0, bar), epoch: Number(value.slice(bar + 1)), expiresInMs: Math.max(0, ttl) };
}

function checkTtl(ttlMs: number): void {
  if (!Number.isInteger(ttlMs) || ttlMs <= 0)
    throw new RangeError(`ttlMs must be a positive integer, got ${ttlMs}`);
}
