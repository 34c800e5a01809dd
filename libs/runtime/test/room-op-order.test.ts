import fc from 'fast-check';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { AckMessage, Op } from '@p3/protocol';
import { ManualClock, ManualScheduler, MemorySnapshotStore, RoomHost, type RoomKey } from '@p3/runtime';
import { capped } from '@p3/test-support';
import { OutOfOrderOps } from '../src/out-of-order-ops.js';
import { RecordingOutput } from './recording-output.js';
import { roomTestWorld } from './room-test-world.js';

// A client's ops are applied in the order it numbered them, whatever order the network delivers them in: across
// the cluster a lost bus message comes back as a resend after newer ops arrived (the fault matrix's NATS restart
// reverted an input that way).

const key: RoomKey = { tenant: 'default', room: 'order' };
const COUNTER = '0190d7a0-0000-7000-8000-0000000000cc';
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

function setup() {
  const clock = new ManualClock();
  const scheduler = new ManualScheduler(clock);
  const output = new RecordingOutput();
  const host = new RoomHost({
    world: roomTestWorld,
    tickRate: 10,
    bufferFrame: 5,
    clock,
    scheduler,
    store: new MemorySnapshotStore(),
    output,
    logger: pino({ level: 'silent' }),
    wallClock: () => 1_700_000_000_000,
  });
  const advance = async (ms: number) => {
    for (let t = 0; t < ms; t += 100) {
      scheduler.advance(Math.min(100, ms - t));
      await settle();
    }
  };
  return { host, output, advance };
}

/** Op `n` sets the counter to `n`: the counter's history is the order ops were applied in. */
const setTo = (n: number): Op => ({ op: 'update', entityId: COUNTER, data: { n } });

describe('ops of one client apply in sequence order', () => {
  it('[ORDER-1] delivered in any order, with losses repaired from the acks, ops apply in their order and all of them apply', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 2, max: 24 }).chain((count) =>
          fc.record({
            count: fc.constant(count),
            order: fc.shuffledSubarray(
              Array.from({ length: count - 1 }, (_, i) => i + 2),
              { minLength: 0, maxLength: count - 1 },
            ),
          }),
        ),
        async ({ count, order }) => {
          const t = setup();
          const joined = t.output.track(await t.host.join({ key, clientId: 'ann', sessionStamp: 1 }));
          if (!joined.ok) throw joined.error;
          const send = (seq: number, op: Op) =>
            t.host.receive(key, joined.connectionId, { type: 'ops', stamp: 1, seq, ops: [op] });
          send(1, { op: 'create', entityId: COUNTER, typeName: 'counter', data: { n: 1 } });
          await t.advance(100);
          // Some ops arrive shuffled; the rest were lost on the way.
          for (const seq of order) send(seq, setTo(seq));
          // The client resends what the acks report missing until everything is acknowledged.
          for (let round = 0; round < 10; round++) {
            await t.advance(1100);
            const acks = t.output.to(joined.connectionId).filter((m): m is AckMessage => m.type === 'ack');
            const last = acks.at(-1);
            if (last && last.seq === count) break;
            const missing = last?.missing ?? [];
            const resend =
              missing.length > 0
                ? missing.flatMap(([from, to]) => Array.from({ length: to - from + 1 }, (_, i) => from + i))
                : // No ack names a gap (nothing held yet): everything unacknowledged goes again.
                  Array.from({ length: count - (last?.seq ?? 0) }, (_, i) => (last?.seq ?? 0) + i + 1);
            for (const seq of resend) if (seq > 1) send(seq, setTo(seq));
          }
          await t.advance(200);
          const history = t.output
            .frames()
            .flatMap((f) => f.entities.filter((e) => e.id === COUNTER).map((e) => e.fields?.n as number));
          expect(history.at(-1)).toBe(count);
          for (let i = 1; i < history.length; i++) expect(history[i]).toBeGreaterThan(history[i - 1]!);
          await t.host.close();
        },
      ),
      capped({ numRuns: 40 }),
    );
  });

  it('[ORDER-2] held ops: missing ranges before them, taken in order, bounded', () => {
    const held = new OutOfOrderOps<string>(4);
    expect(held.hold(1, 5, 2, 'e')).toBe(true);
    expect(held.hold(1, 3, 2, 'c')).toBe(true);
    expect(held.missing(1, 1)).toEqual([
      [2, 2],
      [4, 4],
    ]);
    // Another stamp, the next expected number, or a stamp not heard yet: applied at once.
    expect(held.hold(2, 9, 2, 'x')).toBe(false);
    expect(held.hold(1, 2, 2, 'b')).toBe(false);
    expect(held.hold(1, 7, 1, 'g')).toBe(false);
    expect(held.take(1, 3)).toBe('c');
    expect(held.take(1, 3)).toBeUndefined();
    expect(held.missing(1, 3)).toEqual([[4, 4]]);
    // At most `limit` ops, and none further than `limit` past the next expected one.
    expect(held.hold(1, 7, 2, 'g')).toBe(false);
    expect(held.hold(1, 6, 2, 'f')).toBe(true);
    expect(held.hold(1, 4, 2, 'd')).toBe(true);
    expect(held.hold(1, 8, 4, 'h')).toBe(true);
    expect(held.hold(1, 7, 4, 'g')).toBe(false);
    expect(held.size).toBe(4);
    held.clear();
    expect(held.size).toBe(0);
    expect(held.missing(1, 1)).toEqual([]);
  });
});
