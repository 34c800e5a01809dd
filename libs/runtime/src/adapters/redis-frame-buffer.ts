import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import {
  checkEntry,
  checkRange,
  closedError,
  comparePositions,
  maxEntriesOf,
  staleError,
  type BufferPosition,
  type BufferedEntry,
  type BufferedRange,
  type FrameBuffer,
  type FrameBufferOptions,
} from '../ports/frame-buffer.js';
import type { RoomKey } from '../ports/snapshot-store.js';
import { encodeIdToken } from '../id-token.js';

export interface RedisFrameBufferOptions extends FrameBufferOptions {
  /** The client to use; the buffer never closes it (it is usually shared with presence and leases). */
  readonly redis: Redis;
  /** Every key starts with `<prefix>:fbuf:`. Default `p3`. */
  readonly prefix?: string;
}

/**
 * The append, atomic in one script: refuse a position not after the stream's top entry, else add the entry with
 * its position as the stream ID and the top entry's ID as `q` (the predecessor, which tells `range` whether a
 * hole precedes the first kept entry after trimming). Returns the top ID when stale, nil when written.
 * Reading the top entry copies its payload inside Redis; that is cheaper than a second key kept in step with it.
 * Lua numbers are doubles: exact for the safe integers the port allows.
 */
const APPEND_LUA = `
local top = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
local previous = ''
if top then
  previous = top[1]
  local e, s = string.match(previous, '^(%d+)%-(%d+)$')
  e, s = tonumber(e), tonumber(s)
  local ne, ns = tonumber(ARGV[1]), tonumber(ARGV[2])
  if ne < e or (ne == e and ns <= s) then return previous end
end
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[5], ARGV[1] .. '-' .. ARGV[2],
  'e', ARGV[1], 's', ARGV[2], 'f', ARGV[3], 'q', previous, 'p', ARGV[4])
return false
`;
const APPEND_SHA = createHash('sha1').update(APPEND_LUA).digest('hex');

/**
 * A frame buffer in Redis: one stream per room, each entry `XADD`ed with the ID `<epoch>-<seq>` and the fields
 * `e <epoch> s <seq> f <frame> q <previous id> p <payload bytes>`.
 *
 * Why the position is the stream ID: stream IDs order exactly like (epoch, seq) (two unsigned integers compared in
 * turn), so Redis itself keeps the entries sorted, `range` is one `XRANGE` from the exclusive ID `(<epoch>-<seq>`,
 * and the trimmed-away part never needs a scan.
 *
 * Capacity: `XADD ... MAXLEN ~ maxEntries` trims whole stream nodes only, so a room keeps at least `maxEntries`
 * entries and fewer than `maxEntries + stream-node-max-entries` (100 by default; fewer for large entries, which
 * `stream-node-max-bytes` packs fewer per node). The approximation keeps trimming O(1) per append.
 *
 * Durability: none is needed. The Redis of a P3 cluster may keep nothing on disk (no AOF/RDB), so a Redis restart
 * empties every buffer; a room then reads as never written, and catch-up falls back to snapshots and the room log
 * (the durable truth lives there). The stream has no TTL: an expired buffer would read as complete and hide a gap,
 * so the owner `clear`s a room when it closes it for good.
 *
 * @example
 * const buffer = new RedisFrameBuffer({ redis, prefix: 'p3', maxEntries: 256 });
 * await buffer.append({ tenant: 'acme', room: 'lobby' }, { epoch: 7, seq: 1, frame: 900, payload });
 */
export class RedisFrameBuffer implements FrameBuffer {
  private readonly redis: Redis;
  private readonly prefix: string;
  private readonly maxEntries: number;
  private closed = false;

  constructor(options: RedisFrameBufferOptions) {
    this.redis = options.redis;
    this.prefix = options.prefix ?? 'p3';
    this.maxEntries = maxEntriesOf(options);
  }

  async append(key: RoomKey, entry: BufferedEntry): Promise<void> {
    this.checkOpen();
    checkEntry(entry);
    const args = [
      String(entry.epoch),
      String(entry.seq),
      String(entry.frame),
      Buffer.from(entry.payload.buffer, entry.payload.byteOffset, entry.payload.byteLength),
      String(this.maxEntries),
    ];
    const stale = await this.runAppend(this.streamKey(key), args);
    if (stale !== null) throw staleError(entry, parseId(stale));
  }

  async range(key: RoomKey, after: BufferPosition, limit?: number): Promise<BufferedRange> {
    this.checkOpen();
    checkRange(after, limit);
    const start = `(${after.epoch}-${after.seq}`;
    const stream = this.streamKey(key);
    const raw =
      limit === undefined
        ? await this.redis.xrangeBuffer(stream, start, '+')
        : await this.redis.xrangeBuffer(stream, start, '+', 'COUNT', limit);
    const decoded = raw.map(([, fields]) => decodeEntry(fields));
    const first = decoded[0];
    // The first kept entry after `after` knows its predecessor: if that one is also after `after`, it was trimmed.
    const complete =
      first === undefined || first.previous === null || comparePositions(first.previous, after) <= 0;
    return { entries: decoded.map((e) => e.entry), complete };
  }

  async latest(key: RoomKey): Promise<BufferedEntry | null> {
    this.checkOpen();
    const raw = await this.redis.xrevrangeBuffer(this.streamKey(key), '+', '-', 'COUNT', 1);
    const top = raw[0];
    return top === undefined ? null : decodeEntry(top[1]).entry;
  }

  async clear(key: RoomKey): Promise<void> {
    this.checkOpen();
    await this.redis.del(this.streamKey(key));
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** The stream of one room; tenant and room are escaped so that no two distinct pairs share a key. */
  streamKey(key: RoomKey): string {
    return `${this.prefix}:fbuf:${encodeIdToken(key.tenant)}:${encodeIdToken(key.room)}`;
  }

  /** EVALSHA, loading the script with EVAL when Redis does not know it (first use, or after a restart/flush). */
  private async runAppend(stream: string, args: (string | Buffer)[]): Promise<string | null> {
    let reply: unknown;
    try {
      reply = await this.redis.call('EVALSHA', APPEND_SHA, 1, stream, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      reply = await this.redis.call('EVAL', APPEND_LUA, 1, stream, ...args);
    }
    return typeof reply === 'string' ? reply : null;
  }

  private checkOpen(): void {
    if (this.closed) throw closedError();
  }
}

function parseId(id: string): BufferPosition {
  const dash = id.indexOf('-');
  return { epoch: Number(id.slice(0, dash)), seq: Number(id.slice(dash + 1)) };
}

interface DecodedEntry {
  readonly entry: BufferedEntry;
  readonly previous: BufferPosition | null;
}

/** Fields come back as `[name, value, name, value, ...]`; the payload is copied out of the reply's buffer. */
function decodeEntry(fields: readonly Buffer[]): DecodedEntry {
  const values = new Map<string, Buffer>();
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = fields[i];
    const value = fields[i + 1];
    if (name !== undefined && value !== undefined) values.set(name.toString('latin1'), value);
  }
  const text = (name: string): string => values.get(name)?.toString('latin1') ?? '';
  const previous = text('q');
  return {
    entry: {
      epoch: Number(text('e')),
      seq: Number(text('s')),
      frame: Number(text('f')),
      payload: new Uint8Array(values.get('p') ?? new Uint8Array(0)),
    },
    previous: previous === '' ? null : parseId(previous),
  };
}
