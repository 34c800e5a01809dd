import { describe, expect, it } from 'vitest';
import {
  FrameBufferError,
  FrameBufferErrorCode,
  START_POSITION,
  type BufferedEntry,
  type FrameBuffer,
} from '../src/ports/frame-buffer.js';
import type { RoomKey } from '../src/ports/snapshot-store.js';

export type MakeFrameBuffer = (options: { maxEntries: number }) => Promise<FrameBuffer>;

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);
const entry = (epoch: number, seq: number, payload = bytes(epoch, seq)): BufferedEntry => ({
  epoch,
  seq,
  frame: epoch * 1000 + seq,
  payload,
});
const positions = (entries: readonly BufferedEntry[]): [number, number][] =>
  entries.map((e) => [e.epoch, e.seq]);

async function expectCode(promise: Promise<unknown>, code: FrameBufferErrorCode): Promise<void> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(FrameBufferError);
  expect((error as FrameBufferError).code).toBe(code);
}

/** Every FrameBuffer keeps these promises (see the interface doc). Run against each implementation. */
export function describeFrameBufferContract(name: string, make: MakeFrameBuffer): void {
  describe(`FrameBuffer contract: ${name}`, () => {
    const key = (): RoomKey => ({ tenant: 't', room: `room-${Math.random().toString(36).slice(2)}` });

    async function withBuffer(run: (buffer: FrameBuffer) => Promise<void>, maxEntries = 64): Promise<void> {
      const buffer = await make({ maxEntries });
      try {
        await run(buffer);
      } finally {
        await buffer.close();
      }
    }

    it('[FBUF-1] returns binary payloads unchanged, in append order', () =>
      withBuffer(async (buffer) => {
        const k = key();
        const large = new Uint8Array(32 * 1024).map((_, i) => (i * 31 + 7) & 0xff);
        const payloads = [bytes(0x00, 0xff, 0x00, 0x0d, 0x0a, 0x80), new Uint8Array(0), large, bytes(0xff)];
        // A view into a larger buffer: only the viewed bytes are appended.
        const backing = bytes(9, 9, 1, 2, 3, 9);
        payloads.push(backing.subarray(2, 5));
        for (const [i, payload] of payloads.entries()) await buffer.append(k, entry(1, i + 1, payload));
        backing.fill(0); // the appender reusing its memory cannot alter what was buffered
        const { entries, complete } = await buffer.range(k, START_POSITION);
        expect(complete).toBe(true);
        expect(entries.map((e) => Array.from(e.payload))).toEqual([
          ...payloads.slice(0, -1).map((p) => Array.from(p)),
          [1, 2, 3],
        ]);
        expect(entries.map((e) => e.frame)).toEqual([1001, 1002, 1003, 1004, 1005]);
        expect(entries.every((e) => e.payload instanceof Uint8Array)).toBe(true);
      }));

    it('[FBUF-2] range returns only the entries after the position, (epoch, seq) lexicographic, at most limit', () =>
      withBuffer(async (buffer) => {
        const k = key();
        for (const [epoch, seq] of [
          [1, 1],
          [1, 2],
          [1, 10],
          [2, 1],
          [2, 3],
          [5, 0],
        ] as const)
          await buffer.append(k, entry(epoch, seq));
        expect(positions((await buffer.range(k, { epoch: 1, seq: 2 })).entries)).toEqual([
          [1, 10],
          [2, 1],
          [2, 3],
          [5, 0],
        ]);
        // A seq above anything of epoch 1 still comes before epoch 2.
        expect(positions((await buffer.range(k, { epoch: 1, seq: 99 })).entries)).toEqual([
          [2, 1],
          [2, 3],
          [5, 0],
        ]);
        // Positions never appended are fine as `after`.
        expect(positions((await buffer.range(k, { epoch: 3, seq: 7 })).entries)).toEqual([[5, 0]]);
        expect(await buffer.range(k, { epoch: 5, seq: 0 })).toEqual({ entries: [], complete: true });
        const page = await buffer.range(k, { epoch: 1, seq: 1 }, 2);
        expect(page.complete).toBe(true);
        expect(positions(page.entries)).toEqual([
          [1, 2],
          [1, 10],
        ]);
        expect(await buffer.range(key(), START_POSITION)).toEqual({ entries: [], complete: true });
      }));

    it('[FBUF-3] keeps the newest maxEntries, and a range from before a dropped entry is incomplete', () =>
      withBuffer(async (buffer) => {
        const k = key();
        // Enough appends that even a node-granular (approximate) trim must drop some.
        const total = 250;
        for (let seq = 1; seq <= total; seq++) await buffer.append(k, entry(1, seq));
        const all = await buffer.range(k, START_POSITION);
        expect(all.complete).toBe(false);
        const kept = all.entries.map((e) => e.seq);
        expect(kept.length).toBeGreaterThanOrEqual(4);
        expect(kept.length).toBeLessThan(total);
        const oldest = total - kept.length + 1;
        // A contiguous suffix: the newest entries, none missing.
        expect(kept).toEqual(Array.from({ length: kept.length }, (_, i) => oldest + i));
        expect((await buffer.range(k, { epoch: 1, seq: 1 })).complete).toBe(false);
        // The newest dropped entry is exactly where the hole ends.
        expect((await buffer.range(k, { epoch: 1, seq: oldest - 2 })).complete).toBe(false);
        const fromDropped = await buffer.range(k, { epoch: 1, seq: oldest - 1 });
        expect(fromDropped.complete).toBe(true);
        expect(fromDropped.entries.length).toBe(kept.length);
        const tail = await buffer.range(k, { epoch: 1, seq: total - 3 });
        expect(tail.complete).toBe(true);
        expect(tail.entries.map((e) => e.seq)).toEqual([total - 2, total - 1, total]);
        // A limit cuts the tail, not the completeness of the start.
        const limited = await buffer.range(k, START_POSITION, 1);
        expect(limited).toMatchObject({ complete: false });
        expect(limited.entries.map((e) => e.seq)).toEqual([oldest]);
      }, 4));

    it('[FBUF-4] refuses an append not after the latest entry (stale epoch, or same epoch and seq not above)', () =>
      withBuffer(async (buffer) => {
        const k = key();
        await buffer.append(k, entry(1, 5));
        await buffer.append(k, entry(2, 3));
        await expectCode(buffer.append(k, entry(1, 6)), FrameBufferErrorCode.Stale);
        await expectCode(buffer.append(k, entry(1, 99)), FrameBufferErrorCode.Stale);
        await expectCode(buffer.append(k, entry(2, 3)), FrameBufferErrorCode.Stale);
        await expectCode(buffer.append(k, entry(2, 2)), FrameBufferErrorCode.Stale);
        const refused = await buffer.append(k, entry(1, 7)).catch((e: unknown) => e);
        expect((refused as FrameBufferError).latest).toEqual({ epoch: 2, seq: 3 });
        expect(positions((await buffer.range(k, START_POSITION)).entries)).toEqual([
          [1, 5],
          [2, 3],
        ]);
        await buffer.append(k, entry(2, 4));
        expect((await buffer.latest(k))?.seq).toBe(4);
      }));

    it('[FBUF-5] a new epoch may start at seq 1, after the older epoch entries it follows', () =>
      withBuffer(async (buffer) => {
        const k = key();
        await buffer.append(k, entry(0, 1));
        await buffer.append(k, entry(0, 2));
        await buffer.append(k, entry(7, 1));
        await buffer.append(k, entry(7, 2));
        expect(positions((await buffer.range(k, START_POSITION)).entries)).toEqual([
          [0, 1],
          [0, 2],
          [7, 1],
          [7, 2],
        ]);
        expect(positions((await buffer.range(k, { epoch: 0, seq: 2 })).entries)).toEqual([
          [7, 1],
          [7, 2],
        ]);
      }));

    it('[FBUF-6] keeps rooms and tenants apart, whatever characters their ids hold', () =>
      withBuffer(async (buffer) => {
        const odd = [
          'a',
          'a:b',
          'a|b',
          'a*',
          '*',
          'a b',
          ' ',
          'ünï©ødé 🎲',
          '%0061',
          'a%3Ab',
          '',
          'a\u0000b',
        ];
        const suffix = Math.random().toString(36).slice(2);
        const keys: RoomKey[] = [];
        for (const tenant of ['t', 't:a', 'b|x'])
          for (const room of odd) keys.push({ tenant, room: room + suffix });
        // Pairs that a naive `tenant:room` join would merge.
        keys.push({ tenant: `x:${suffix}`, room: 'y' }, { tenant: 'x', room: `${suffix}:y` });
        // Decreasing seqs: a fence shared by two rooms would refuse the later append.
        const seqOf = (i: number): number => keys.length - i;
        for (const [i, k] of keys.entries())
          await buffer.append(k, entry(1, seqOf(i), bytes(i & 0xff, i >> 8)));
        for (const [i, k] of keys.entries()) {
          const { entries } = await buffer.range(k, START_POSITION);
          expect(positions(entries)).toEqual([[1, seqOf(i)]]);
          expect(Array.from(entries[0]?.payload ?? [])).toEqual([i & 0xff, i >> 8]);
        }
      }));

    it('[FBUF-7] latest is the newest entry, or null for a room never appended', () =>
      withBuffer(async (buffer) => {
        const k = key();
        expect(await buffer.latest(k)).toBeNull();
        await buffer.append(k, entry(3, 1, bytes(1)));
        await buffer.append(k, entry(3, 2, bytes(0xff, 0)));
        const latest = await buffer.latest(k);
        expect(latest).toMatchObject({ epoch: 3, seq: 2, frame: 3002 });
        expect(Array.from(latest?.payload ?? [])).toEqual([0xff, 0]);
      }));

    it('[FBUF-8] clear forgets the room (entries and fence) and no other room', () =>
      withBuffer(async (buffer) => {
        const k = key();
        const other = key();
        await buffer.append(k, entry(4, 9));
        await buffer.append(other, entry(4, 9));
        await buffer.clear(k);
        expect(await buffer.latest(k)).toBeNull();
        expect(await buffer.range(k, START_POSITION)).toEqual({ entries: [], complete: true });
        await buffer.append(k, entry(1, 1));
        expect(positions((await buffer.range(k, START_POSITION)).entries)).toEqual([[1, 1]]);
        expect((await buffer.latest(other))?.epoch).toBe(4);
      }));

    it('[FBUF-9] refuses invalid positions and limits, and every call after close', async () => {
      const buffer = await make({ maxEntries: 8 });
      const k = key();
      await expectCode(buffer.append(k, entry(0, 0)), FrameBufferErrorCode.Invalid);
      await expectCode(buffer.append(k, entry(-1, 3)), FrameBufferErrorCode.Invalid);
      await expectCode(buffer.append(k, entry(1, 1.5)), FrameBufferErrorCode.Invalid);
      await expectCode(buffer.append(k, { ...entry(1, 1), frame: Number.NaN }), FrameBufferErrorCode.Invalid);
      await expectCode(buffer.range(k, START_POSITION, 0), FrameBufferErrorCode.Invalid);
      await expectCode(buffer.range(k, { epoch: 1, seq: -1 }), FrameBufferErrorCode.Invalid);
      expect(await buffer.latest(k)).toBeNull();
      await buffer.close();
      await expectCode(buffer.append(k, entry(1, 1)), FrameBufferErrorCode.Closed);
      await expectCode(buffer.range(k, START_POSITION), FrameBufferErrorCode.Closed);
      await expectCode(buffer.latest(k), FrameBufferErrorCode.Closed);
      await expectCode(buffer.clear(k), FrameBufferErrorCode.Closed);
    });
  });
}
