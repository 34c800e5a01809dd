import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Presence, PresenceMember } from '../ports/presence.js';
import type { RoomKey } from '../ports/snapshot-store.js';
import { decodeIdToken, encodeIdToken } from '../id-token.js';

export interface RedisPresenceOptions {
  /** The connection to use; it stays the caller's (several adapters may share it, `close` leaves it open). */
  readonly redis: Redis;
  /** Every key starts with `<prefix>:presence:`. Default `p3`. */
  readonly prefix?: string;
}

/**
 * Presence in Redis, shared by every gateway of the cluster. Layout under `<prefix>:presence:`:
 * - `room:<tenant>:<room>`: hash attachmentId -> `<gateway> <generation> <json {clientId, gatewayId}>`;
 * - `gw:<gateway>:live`: the gateway's current generation, `PX ttl`, refreshed by its one heartbeat;
 * - `gw:<gateway>:rooms:<generation>`: hash room -> member count, for `roomsOf`; it expires with the liveness key;
 * - `generation`: the counter that numbers gateway lives.
 * Ids in keys are escaped (see `encodeIdToken`), so any characters are safe and distinct ids never collide.
 *
 * Why generations: an entry is live only while its gateway's liveness key holds the generation it was entered
 * under. Expiry of one key kills all of a gateway's members at once, and a stalled gateway that heartbeats again
 * starts a new generation, so its stale members can never come back, without anyone sweeping them first. Dead
 * entries are removed lazily by whoever reads the room.
 *
 * Every operation is one Lua script (one round trip, atomic; `members` of a 1,000-member room included). The
 * scripts derive gateway keys from stored entries, so this layout needs a single Redis primary, not Redis
 * Cluster.
 */
export class RedisPresence implements Presence {
  private readonly redis: Redis;
  private readonly base: string;

  constructor(options: RedisPresenceOptions) {
    this.redis = options.redis;
    this.base = `${options.prefix ?? 'p3'}:presence:`;
  }

  async enter(key: RoomKey, member: PresenceMember): Promise<void> {
    const json = JSON.stringify({ clientId: member.clientId, gatewayId: member.gatewayId });
    await enterScript.run(
      this.redis,
      [this.roomKey(key)],
      [member.attachmentId, encodeIdToken(member.gatewayId), json, roomPart(key), this.gatewayPrefix()],
    );
  }

  async exit(key: RoomKey, attachmentId: string): Promise<void> {
    await exitScript.run(
      this.redis,
      [this.roomKey(key)],
      [attachmentId, roomPart(key), this.gatewayPrefix()],
    );
  }

  async heartbeat(gatewayId: string, ttlMs: number): Promise<boolean> {
    if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new RangeError(`ttlMs must be positive, got ${ttlMs}`);
    const gateway = this.gatewayKey(gatewayId);
    const wasLive = await heartbeatScript.run(
      this.redis,
      [`${gateway}:live`, `${this.base}generation`],
      [Math.ceil(ttlMs), `${gateway}:rooms:`],
    );
    return wasLive === 1;
  }

  async members(key: RoomKey): Promise<PresenceMember[]> {
    const reply = await listScript.run(this.redis, [this.roomKey(key)], [this.gatewayPrefix(), 'list']);
    if (!Array.isArray(reply)) throw new Error('presence: unexpected reply to the members script');
    const members: PresenceMember[] = [];
    for (let i = 0; i + 1 < reply.length; i += 2) {
      members.push(parseEntry(String(reply[i]), String(reply[i + 1])));
    }
    return members;
  }

  async count(key: RoomKey): Promise<number> {
    return Number(await listScript.run(this.redis, [this.roomKey(key)], [this.gatewayPrefix(), 'count']));
  }

  async roomsOf(gatewayId: string): Promise<RoomKey[]> {
    const reply = await roomsScript.run(this.redis, [], [this.gatewayKey(gatewayId)]);
    if (!Array.isArray(reply)) throw new Error('presence: unexpected reply to the rooms script');
    return reply.map((part) => parseRoomPart(String(part)));
  }

  async close(): Promise<void> {}

  private roomKey(key: RoomKey): string {
    return `${this.base}room:${roomPart(key)}`;
  }

  private gatewayPrefix(): string {
    return `${this.base}gw:`;
  }

  private gatewayKey(gatewayId: string): string {
    return `${this.gatewayPrefix()}${encodeIdToken(gatewayId)}`;
  }
}

const roomPart = (key: RoomKey): string => `${encodeIdToken(key.tenant)}:${encodeIdToken(key.room)}`;

function parseRoomPart(part: string): RoomKey {
  const colon = part.indexOf(':');
  return { tenant: decodeKey(part.slice(0, colon)), room: decodeKey(part.slice(colon + 1)) };
}

function parseEntry(attachmentId: string, value: string): PresenceMember {
  // `<gateway> <generation> <json>`: the first two parts never hold a space.
  const json = value.slice(value.indexOf(' ', value.indexOf(' ') + 1) + 1);
  const parsed: unknown = JSON.parse(json);
  if (
    typeof parsed !== 'object' ||
    parsed === null ||
    !('clientId' in parsed) ||
    !('gatewayId' in parsed) ||
    typeof parsed.clientId !== 'string' ||
    typeof parsed.gatewayId !== 'string'
  ) {
    throw new Error(`presence: malformed entry for attachment ${attachmentId}`);
  }
  return { attachmentId, clientId: parsed.clientId, gatewayId: parsed.gatewayId };
}

/** A Lua script sent by hash, and in full only when Redis does not know it yet (after a restart or flush). */
class LuaScript {
  private readonly sha: string;

  constructor(private readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run(redis: Redis, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      return redis.eval(this.source, keys.length, ...keys, ...args);
    }
  }
}

// Uncounts an entry leaving its room, when it belongs to its gateway's current life (an older life's count hash
// is gone or going; touching it would recreate it without a TTL).
const release = `
local function release(old, room, gwPrefix)
  local gw, gen = string.match(old, '^([^ ]*) ([^ ]*) ')
  if gen == '' or redis.call('GET', gwPrefix .. gw .. ':live') ~= gen then return end
  local rooms = gwPrefix .. gw .. ':rooms:' .. gen
  if redis.call('HINCRBY', rooms, room, -1) <= 0 then redis.call('HDEL', rooms, room) end
end
`;

// KEYS: room hash. ARGV: attachmentId, gateway (encoded), json, room part, gateway key prefix.
// An entry made while the gateway is not live gets the empty generation: dead on arrival (see the port doc).
const enterScript = new LuaScript(`${release}
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old then release(old, ARGV[4], ARGV[5]) end
local live = ARGV[5] .. ARGV[2] .. ':live'
local gen = redis.call('GET', live) or ''
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ' ' .. gen .. ' ' .. ARGV[3])
if gen ~= '' then
  local rooms = ARGV[5] .. ARGV[2] .. ':rooms:' .. gen
  if redis.call('HINCRBY', rooms, ARGV[4], 1) == 1 then
    local ttl = redis.call('PTTL', live)
    if ttl > 0 then redis.call('PEXPIRE', rooms, ttl) end
  end
end
return 1
`);

// KEYS: room hash. ARGV: attachmentId, room part, gateway key prefix.
const exitScript = new LuaScript(`${release}
local old = redis.call('HGET', KEYS[1], ARGV[1])
if not old then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
release(old, ARGV[2], ARGV[3])
return 1
`);

// KEYS: liveness key, generation counter. ARGV: ttl ms, the gateway's count hash prefix.
// Returns 1 when the gateway was live; otherwise starts a new generation and returns 0.
const heartbeatScript = new LuaScript(`
local gen = redis.call('GET', KEYS[1])
local was = 1
if not gen then
  gen = tostring(redis.call('INCR', KEYS[2]))
  was = 0
end
redis.call('SET', KEYS[1], gen, 'PX', ARGV[1])
redis.call('PEXPIRE', ARGV[2] .. gen, ARGV[1])
return was
`);

// KEYS: room hash. ARGV: gateway key prefix, 'list' (attachmentId, value pairs) or 'count'.
// One GET per distinct gateway, not per member; dead entries are removed on the way.
const listScript = new LuaScript(`
local entries = redis.call('HGETALL', KEYS[1])
local gens = {}
local out = {}
local n = 0
for i = 1, #entries, 2 do
  local value = entries[i + 1]
  local gw, gen = string.match(value, '^([^ ]*) ([^ ]*) ')
  local current = gens[gw]
  if current == nil then
    current = redis.call('GET', ARGV[1] .. gw .. ':live')
    gens[gw] = current
  end
  if gen ~= '' and current == gen then
    n = n + 1
    if ARGV[2] == 'list' then
      out[#out + 1] = entries[i]
      out[#out + 1] = value
    end
  else
    redis.call('HDEL', KEYS[1], entries[i])
  end
end
if ARGV[2] == 'list' then return out end
return n
`);

// ARGV: the gateway's key base. The rooms of its current life only.
const roomsScript = new LuaScript(`
local gen = redis.call('GET', ARGV[1] .. ':live')
if not gen then return {} end
return redis.call('HKEYS', ARGV[1] .. ':rooms:' .. gen)
`);

/** A key part written by `encodeIdToken` (they are ours: one that does not decode is a bug, not input). */
function decodeKey(part: string): string {
  const id = decodeIdToken(part);
  if (id === null) throw new Error(`presence: not an encoded id: ${part}`);
  return id;
}
