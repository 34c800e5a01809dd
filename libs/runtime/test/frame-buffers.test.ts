import fc from 'fast-check';
import type { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { requireRedis, uniqueName } from '@p3/test-support';
import { capped } from '@p3/test-support/property';
import { MemoryFrameBuffer } from '../src/adapters/memory-frame-buffer.js';
import { RedisFrameBuffer } from '../src/adapters/redis-frame-buffer.js';
import {
  comparePositions,
  FrameBufferError,
  FrameBufferErrorCode,
  type BufferPosition,
  type BufferedEntry,
  type BufferedRange,
} from '../src/ports/frame-buffer.js';
import type { RoomKey } from '../src/ports/snapshot-store.js';
import { describeFrameBufferContract } from './frame-buffer.contract.js';

const prefix = uniqueName('p3t');
let redis: Redis | undefined;

async function redisClient(): Promise<Redis> {
  redis ??= await requireRedis();
  return redis;
}

afterAll(async () => {
  if (redis === undefined) return;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
    if (keys.length > 0) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
  await redis.quit();
});

describeFrameBufferContract('memory', async (options) => new MemoryFrameBuffer(options));
describeFrameBufferContract(
  'redis',
  async (options) => new RedisFrameBuffer({ ...options, redis: await redisClient(), prefix }),
);

describe('RedisFrameBuffer', () => {
  it('[FBUF-3] trims approximately: fewer than maxEntries + stream-node-max-entries kept', async () => {
    const client = await redisClient();
    const buffer = new RedisFrameBuffer({ redis: client, prefix, maxEntries: 4 });
    const key = { tenant: 't', room: 'trim' };
    const [, nodeMax] = (await client.config('GET', 'stream-node-max-entries')) as [string, string];
    for (let seq = 1; seq <= 210; seq++)
      await buffer.append(key, { epoch: 1, seq, frame: seq, payload: new Uint8Array(1) });
    const length = await client.xlen(buffer.streamKey(key));
    expect(length).toBeGreaterThanOrEqual(4);
    expect(length).toBeLessThan(4 + Number(nodeMax));
  });

  it('[FBUF-6] keeps every key under the prefix, one stream per room, distinct for distinct ids', async () => {
    const buffer = new RedisFrameBuffer({ redis: await redisClient(), prefix });
    const pairs: RoomKey[] = [
      { tenant: 'a:b', room: 'c' },
      { tenant: 'a', room: 'b:c' },
      { tenant: '\ud800', room: 'x' },
      { tenant: '\ud801', room: 'x' },
      { tenant: 'é', room: '~00e9' },
    ];
    const keys = pairs.map((k) => buffer.streamKey(k));
    expect(new Set(keys).size).toBe(pairs.length);
    for (const k of keys) expect(k.startsWith(`${prefix}:fbuf:`)).toBe(true);
    expect(new RedisFrameBuffer({ redis: await redisClient() }).streamKey(pairs[0] as RoomKey)).toBe(
      'p3:fbuf:a~003ab:c',
    );
  });
});

/** The model: every accepted entry since the last clear; the buffer keeps the newest `maxEntries` of them. */
class Model {
  private accepted: BufferedEntry[] = [];
  constructor(private readonly maxEntries: number) {}

  append(entry: BufferedEntry): 'ok' | 'stale' {
    const last = this.accepted.at(-1);
    if (last !== undefined && comparePositions(entry, last) <= 0) return 'stale';
    this.accepted.push(entry);
    return 'ok';
  }

  range(after: BufferPosition, limit: number | undefined): BufferedRange {
    const kept = this.accepted.slice(-this.maxEntries);
    const dropped = this.accepted.slice(0, this.accepted.length - kept.length);
    const later = kept.filter((e) => comparePositions(e, after) > 0);
    return {
      entries: limit === undefined ? later : later.slice(0, limit),
      complete: dropped.every((e) => comparePositions(e, after) <= 0),
    };
  }

  clear(): void {
    this.accepted = [];
  }
}

type Op =
  | { kind: 'append'; epoch: number; seq: number; frame: number; payload: Uint8Array }
  | { kind: 'range'; epoch: number; seq: number; limit: number | undefined }
  | { kind: 'clear' };

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('append' as const),
      epoch: fc.integer({ min: 0, max: 3 }),
      seq: fc.integer({ min: 0, max: 6 }),
      frame: fc.nat(50),
      payload: fc.uint8Array({ maxLength: 4 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('range' as const),
      epoch: fc.integer({ min: 0, max: 4 }),
      seq: fc.integer({ min: 0, max: 7 }),
      limit: fc.option(fc.integer({ min: 1, max: 5 }), { nil: undefined }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'clear' as const }) },
);

describe('MemoryFrameBuffer against a model', () => {
  it('[FBUF-10] any sequence of appends (some stale), ranges and clears gives what the model gives', async () => {
    const key = { tenant: 't', room: 'r' };
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 5 }), fc.array(op, { maxLength: 40 }), async (max, ops) => {
        const buffer = new MemoryFrameBuffer({ maxEntries: max });
        const model = new Model(max);
        for (const o of ops) {
          if (o.kind === 'clear') {
            await buffer.clear(key);
            model.clear();
          } else if (o.kind === 'range') {
            const after = { epoch: o.epoch, seq: o.seq };
            expect(await buffer.range(key, after, o.limit)).toEqual(model.range(after, o.limit));
          } else if (o.epoch === 0 && o.seq === 0) {
            await expect(buffer.append(key, o)).rejects.toMatchObject({ code: FrameBufferErrorCode.Invalid });
          } else {
            const expected = model.append({ epoch: o.epoch, seq: o.seq, frame: o.frame, payload: o.payload });
            const outcome = await buffer.append(key, o).then(
              () => 'ok',
              (error: unknown) =>
                error instanceof FrameBufferError && error.code === FrameBufferErrorCode.Stale
                  ? 'stale'
                  : error,
            );
            expect(outcome).toBe(expected);
          }
        }
        const last = model.range({ epoch: 0, seq: 0 }, undefined).entries.at(-1) ?? null;
        expect(await buffer.latest(key)).toEqual(last);
      }),
      capped({ numRuns: 300 }),
    );
  });
});
