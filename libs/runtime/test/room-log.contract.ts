import { describe, expect, it } from 'vitest';
import type { JsonValue } from '@p3/protocol';
import type { RoomKey, RoomLog } from '@p3/runtime';

/** One log under test, on storage of its own or shared; `dispose` releases both. */
export interface RoomLogHarness {
  readonly log: RoomLog;
  /** Closes the newest log (if still open) and opens a new one on the same storage, as a restart does. */
  readonly reopen?: () => Promise<RoomLog>;
  /**
   * Simulates a crash mid-append: closes the newest log, then leaves a record's header and part of its payload
   * at the end of the storage. Resolved appends are all durable; the torn one never resolved.
   */
  readonly tearLastRecord?: () => Promise<void>;
  /** Closes the newest log and releases what the harness created (pools, directories). */
  readonly dispose: () => Promise<void>;
}

/** What an implementation can do beyond the port, so the suite registers the cases that apply. */
export interface RoomLogAbilities {
  /** Records survive a restart (`reopen` is provided). */
  readonly durable?: boolean;
  /** A torn last record can be produced and must be dropped on reopen (`tearLastRecord` is provided). */
  readonly tornTail?: boolean;
}

/** Data that JSON round trips must keep exactly: nesting, unicode, quotes, escapes, numbers at the edges. */
export const trickyData: JsonValue = {
  text: 'héllo wörld ✓ 🎮 日本語 — "double" \'single\' \\ back\nslash\ttab',
  nested: {
    list: [1, -2.5, 1e-7, 2 ** 53 - 1, null, true, false, '', [], {}],
    deep: { a: { b: { c: ['z'] } } },
  },
  '"key with quotes"': 'value',
  empty: '',
};

/**
 * Every RoomLog keeps these promises (see the interface doc in `ports/room-log.ts`). Run against each
 * implementation; each case uses rooms of its own, so implementations on shared storage need no cleanup.
 */
export function describeRoomLogContract(
  name: string,
  make: () => Promise<RoomLogHarness>,
  abilities: RoomLogAbilities = {},
): void {
  describe(`RoomLog contract: ${name}`, () => {
    const unique = () => Math.random().toString(36).slice(2, 10);
    const key = (): RoomKey => ({ tenant: 't', room: `room-${unique()}` });
    const entries = (...versions: number[]) => versions.map((version) => ({ version, data: { v: version } }));
    const withLog = async (test: (harness: RoomLogHarness) => Promise<void>) => {
      const harness = await make();
      try {
        await test(harness);
      } finally {
        await harness.dispose();
      }
    };
    const need = <T>(ability: T | undefined, what: string): T => {
      if (ability === undefined)
        throw new Error(`the harness of ${name} declares ${what} but does not provide it`);
      return ability;
    };

    it('reads nothing for a room never appended to', () =>
      withLog(async ({ log }) => {
        expect(await log.read(key(), 0)).toEqual([]);
      }));

    it('reads back exactly what was appended, oldest first', () =>
      withLog(async ({ log }) => {
        const k = key();
        await log.append(k, 1, trickyData);
        await log.append(k, 2, 'a "string" with ✓');
        await log.append(k, 3, [1, { two: 2 }]);
        await log.append(k, 4, null);
        expect(await log.read(k, 0)).toEqual([
          { version: 1, data: trickyData },
          { version: 2, data: 'a "string" with ✓' },
          { version: 3, data: [1, { two: 2 }] },
          { version: 4, data: null },
        ]);
      }));

    it('returns only the records above `after`', () =>
      withLog(async ({ log }) => {
        const k = key();
        for (const version of [3, 5, 8, 13]) await log.append(k, version, { v: version });
        expect(await log.read(k, 5)).toEqual(entries(8, 13));
        expect(await log.read(k, 4)).toEqual(entries(5, 8, 13));
        expect(await log.read(k, 13)).toEqual([]);
        expect(await log.read(k, -1)).toEqual(entries(3, 5, 8, 13));
      }));

    it('keeps rooms and tenants apart', () =>
      withLog(async ({ log }) => {
        const room = `shared-${unique()}`;
        await log.append({ tenant: 'a', room }, 1, 'A');
        await log.append({ tenant: 'b', room }, 1, 'B');
        await log.append({ tenant: 'a', room: `${room}-other` }, 1, 'other');
        expect(await log.read({ tenant: 'a', room }, 0)).toEqual([{ version: 1, data: 'A' }]);
        expect(await log.read({ tenant: 'b', room }, 0)).toEqual([{ version: 1, data: 'B' }]);
        expect(await log.read({ tenant: 'a', room: `${room}-other` }, 0)).toEqual([
          { version: 1, data: 'other' },
        ]);
        await log.truncate({ tenant: 'a', room }, 1);
        expect(await log.read({ tenant: 'b', room }, 0)).toEqual([{ version: 1, data: 'B' }]);
      }));

    it('resolves many concurrent appends across rooms and keeps each room in call order', () =>
      withLog(async ({ log }) => {
        const rooms = Array.from({ length: 20 }, key);
        const order: string[] = [];
        const appends: Promise<void>[] = [];
        for (let version = 1; version <= 25; version += 1) {
          for (const [i, room] of rooms.entries()) {
            appends.push(
              log.append(room, version, { v: version }).then(() => void order.push(`${i}:${version}`)),
            );
          }
        }
        await Promise.all(appends);
        for (const room of rooms) {
          expect(await log.read(room, 0)).toEqual(entries(...Array.from({ length: 25 }, (_, i) => i + 1)));
        }
        for (const [i] of rooms.entries()) {
          const versions = order.filter((o) => o.startsWith(`${i}:`)).map((o) => Number(o.split(':')[1]));
          expect(versions).toEqual([...versions].sort((a, b) => a - b));
        }
      }));

    it('truncate hides the records up to `through` and keeps the later ones', () =>
      withLog(async ({ log }) => {
        const k = key();
        for (let version = 1; version <= 5; version += 1) await log.append(k, version, { v: version });
        await log.truncate(k, 3);
        expect(await log.read(k, 0)).toEqual(entries(4, 5));
        await log.truncate(k, 2);
        expect(await log.read(k, 0)).toEqual(entries(4, 5));
        await log.truncate(k, 5);
        expect(await log.read(k, 0)).toEqual([]);
      }));

    it('appends after a truncate are read back', () =>
      withLog(async ({ log }) => {
        const k = key();
        await log.append(k, 1, { v: 1 });
        await log.append(k, 2, { v: 2 });
        await log.truncate(k, 2);
        await log.append(k, 3, { v: 3 });
        expect(await log.read(k, 0)).toEqual(entries(3));
      }));

    it('applies appends and truncates in call order, even when none was awaited', () =>
      withLog(async ({ log }) => {
        const k = key();
        await Promise.all([log.append(k, 1, { v: 1 }), log.append(k, 2, { v: 2 }), log.truncate(k, 1)]);
        expect(await log.read(k, 0)).toEqual(entries(2));
        await Promise.all([log.append(k, 3, { v: 3 }), log.truncate(k, 3), log.append(k, 4, { v: 4 })]);
        expect(await log.read(k, 0)).toEqual(entries(4));
      }));

    // Found by the file log's property test (seed 553606101): only the first truncate covered the queued append.
    it('a later truncate through a lower version does not bring back a record an earlier one hid', () =>
      withLog(async ({ log }) => {
        const k = key();
        await Promise.all([log.append(k, 1, []), log.truncate(k, 1), log.truncate(k, 0)]);
        expect(await log.read(k, -1)).toEqual([]);
      }));

    it('a re-appended version replaces its record (a retried append)', () =>
      withLog(async ({ log }) => {
        const k = key();
        await log.append(k, 1, 'first');
        await log.append(k, 2, 'two');
        await log.append(k, 1, 'retried');
        expect(await log.read(k, 0)).toEqual([
          { version: 1, data: 'retried' },
          { version: 2, data: 'two' },
        ]);
        await Promise.all([log.append(k, 3, 'a'), log.append(k, 3, 'b')]);
        expect(await log.read(k, 2)).toEqual([{ version: 3, data: 'b' }]);
      }));

    it('refuses a version that is not a safe integer, without failing the appends beside it', () =>
      withLog(async ({ log }) => {
        const k = key();
        const results = await Promise.allSettled([
          log.append(k, 1, 'ok'),
          log.append(k, 1.5, 'fraction'),
          log.append(k, Number.NaN, 'nan'),
          log.append(k, 2 ** 60, 'too big'),
          log.append(k, 2, 'ok too'),
        ]);
        expect(results.map((r) => r.status)).toEqual([
          'fulfilled',
          'rejected',
          'rejected',
          'rejected',
          'fulfilled',
        ]);
        expect(await log.read(k, 0)).toEqual([
          { version: 1, data: 'ok' },
          { version: 2, data: 'ok too' },
        ]);
      }));

    it('keeps what was appended, whatever the caller does to its objects afterwards', () =>
      withLog(async ({ log }) => {
        const k = key();
        const data = { list: [1, 2], inner: { x: 1 } };
        const appended = log.append(k, 1, data);
        data.list.push(3);
        data.inner.x = 99;
        await appended;
        const [first] = await log.read(k, 0);
        expect(first).toEqual({ version: 1, data: { list: [1, 2], inner: { x: 1 } } });
        (first?.data as { list: number[] }).list.push(4);
        expect(await log.read(k, 0)).toEqual([{ version: 1, data: { list: [1, 2], inner: { x: 1 } } }]);
      }));

    it('rejects appends after close', async () => {
      const harness = await make();
      await harness.log.close();
      await expect(harness.log.append(key(), 1, 'late')).rejects.toThrow();
      await harness.dispose();
    });

    if (abilities.durable) {
      it('keeps every resolved append across a restart', () =>
        withLog(async (harness) => {
          const [a, b] = [key(), key()];
          await Promise.all([
            harness.log.append(a, 1, trickyData),
            harness.log.append(b, 1, 'b1'),
            harness.log.append(a, 2, { v: 2 }),
          ]);
          const log = await need(harness.reopen, 'durable')();
          expect(await log.read(a, 0)).toEqual([
            { version: 1, data: trickyData },
            { version: 2, data: { v: 2 } },
          ]);
          expect(await log.read(b, 0)).toEqual([{ version: 1, data: 'b1' }]);
          await log.append(a, 3, { v: 3 });
          expect(await log.read(a, 1)).toEqual(entries(2, 3));
        }));

      it('keeps truncations across a restart (no truncated record comes back)', () =>
        withLog(async (harness) => {
          const [a, b] = [key(), key()];
          for (let version = 1; version <= 4; version += 1) {
            await Promise.all([
              harness.log.append(a, version, { v: version }),
              harness.log.append(b, version, 'b'),
            ]);
          }
          await harness.log.truncate(a, 3);
          await harness.log.truncate(b, 4);
          const reopen = need(harness.reopen, 'durable');
          let log = await reopen();
          expect(await log.read(a, 0)).toEqual(entries(4));
          expect(await log.read(b, 0)).toEqual([]);
          await log.append(b, 5, 'b5');
          log = await reopen();
          expect(await log.read(a, 0)).toEqual(entries(4));
          expect(await log.read(b, 0)).toEqual([{ version: 5, data: 'b5' }]);
        }));
    }

    if (abilities.tornTail) {
      it('drops a torn last record on restart, keeps every earlier one, and appends afterwards', () =>
        withLog(async (harness) => {
          const [a, b] = [key(), key()];
          await Promise.all([harness.log.append(a, 1, trickyData), harness.log.append(b, 1, 'b1')]);
          await harness.log.append(a, 2, { v: 2 });
          await need(harness.tearLastRecord, 'tornTail')();
          const reopen = need(harness.reopen, 'tornTail (with reopen)');
          let log = await reopen();
          expect(await log.read(a, 0)).toEqual([
            { version: 1, data: trickyData },
            { version: 2, data: { v: 2 } },
          ]);
          expect(await log.read(b, 0)).toEqual([{ version: 1, data: 'b1' }]);
          await log.append(a, 3, { v: 3 });
          log = await reopen();
          expect(await log.read(a, 1)).toEqual(entries(2, 3));
        }));
    }
  });
}
