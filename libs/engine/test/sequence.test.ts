import fc from 'fast-check';
import { capped } from '@p3/test-support/property';
import { describe, expect, it } from 'vitest';
import { OutboundLog, SequenceReceiver } from '@p3/engine';

describe('SequenceReceiver', () => {
  it('[SEQ-1] applies each sequence number once', () => {
    const r = new SequenceReceiver();
    expect(r.accept('e', 1, 1)).toBe('new');
    expect(r.accept('e', 1, 1)).toBe('duplicate');
    expect(r.accept('e', 1, 3)).toBe('new');
    expect(r.accept('e', 1, 3)).toBe('duplicate');
    expect(r.lastSeq('e', 1)).toBe(1);
  });

  it('[SEQ-2] acks the contiguous point and lists the gaps after it', () => {
    const r = new SequenceReceiver();
    for (const seq of [1, 2, 5, 6, 9]) r.accept('e', 1, seq);
    expect(r.ack('e')).toEqual({
      stamp: 1,
      seq: 2,
      missing: [
        [3, 4],
        [7, 8],
      ],
    });
    r.accept('e', 1, 3);
    r.accept('e', 1, 4);
    expect(r.ack('e')).toEqual({ stamp: 1, seq: 6, missing: [[7, 8]] });
  });

  it('[SEQ-2] bounds memory: a sequence number far past the contiguous point is out of window', () => {
    const r = new SequenceReceiver({ window: 10 });
    expect(r.accept('e', 1, 11)).toBe('out-of-window');
    expect(r.accept('e', 1, 10)).toBe('new');
  });

  it('[SEQ-2] asked to hold messages past a gap, answers ahead without recording them (the caller accepts them in order)', () => {
    const r = new SequenceReceiver();
    expect(r.accept('c', 1, 3, false)).toBe('new'); // a stamp not heard yet: nothing to hold behind
    expect(r.accept('c', 2, 1, false)).toBe('new');
    expect(r.accept('c', 2, 3, false)).toBe('ahead');
    expect(r.ack('c', 2)).toEqual({ stamp: 2, seq: 1, missing: [] });
    expect(r.accept('c', 2, 2, false)).toBe('new');
    expect(r.accept('c', 2, 3, false)).toBe('new');
    expect(r.accept('c', 2, 3, false)).toBe('duplicate');
    expect(r.lastSeq('c', 2)).toBe(3);
  });

  it('[SEQ-3] starts over on a higher stamp, still honours the one before, refuses older ones', () => {
    const r = new SequenceReceiver();
    r.accept('e', 1, 1);
    r.accept('e', 1, 2);
    expect(r.accept('e', 2, 1)).toBe('new');
    expect(r.accept('e', 1, 3)).toBe('new');
    expect(r.accept('e', 1, 2)).toBe('duplicate');
    expect(r.accept('e', 3, 1)).toBe('new');
    expect(r.accept('e', 1, 4)).toBe('stale');
    expect(r.lastSeq('e', 2)).toBe(1);
    expect(r.accept('e', 2, 1)).toBe('duplicate');
  });

  it('[SEQ-3] accepts a late resend of the stamp before the first one it saw', () => {
    const r = new SequenceReceiver();
    expect(r.accept('e', 5, 1)).toBe('new');
    expect(r.accept('e', 4, 7)).toBe('new');
    expect(r.accept('e', 3, 1)).toBe('stale');
  });

  it('[SEQ-1] [SEQ-2] delivers every message exactly once under any reordering and duplication', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 60 }).chain((n) =>
          fc.tuple(
            fc.constant(n),
            fc.shuffledSubarray(
              [...Array(n).keys()].map((i) => i + 1).flatMap((s) => [s, s]),
              { minLength: 2 * n, maxLength: 2 * n },
            ),
          ),
        ),
        ([n, arrivals]) => {
          const r = new SequenceReceiver();
          const applied: number[] = [];
          for (const seq of arrivals) if (r.accept('e', 9, seq) === 'new') applied.push(seq);
          expect(applied.sort((a, b) => a - b)).toEqual([...Array(n).keys()].map((i) => i + 1));
          expect(r.ack('e')).toEqual({ stamp: 9, seq: n, missing: [] });
        },
      ),
      capped(),
    );
  });
});

describe('SequenceReceiver memory', () => {
  it('[SEQ-1] forgets the least recently heard emitter first, past its bound', () => {
    const r = new SequenceReceiver({ maxEmitters: 2 });
    r.accept('a', 1, 1);
    r.accept('b', 1, 1);
    r.accept('a', 1, 2);
    r.accept('c', 1, 1);
    expect(r.emitterCount).toBe(2);
    expect(r.lastSeq('a', 1)).toBe(2);
    expect(r.lastSeq('b', 1)).toBe(0);
  });
});

describe('OutboundLog', () => {
  it('[SEQ-4] drops one entry for good', () => {
    const log = new OutboundLog<string>();
    log.push('a');
    log.push('b');
    expect(log.drop(1, 1)).toBe(true);
    expect(log.drop(1, 1)).toBe(false);
    expect(log.unacknowledged().map((e) => e.payload)).toEqual(['b']);
  });

  it('[SEQ-4] numbers, flushes on ack and resends what is missing', () => {
    const log = new OutboundLog<string>();
    const sent = ['a', 'b', 'c', 'd'].map((p) => log.push(p));
    expect(sent.map((s) => s.seq)).toEqual([1, 2, 3, 4]);
    const resend = log.ack(1, 1, [[3, 3]]);
    expect(resend.map((e) => e.payload)).toEqual(['c']);
    expect(log.unacknowledged().map((e) => e.seq)).toEqual([2, 3, 4]);
    log.ack(1, 4);
    expect(log.size).toBe(0);
  });

  it('[SEQ-4] rolls over to the next stamp when sequence numbers run out', () => {
    const log = new OutboundLog<number>({ maxSeq: 3 });
    const sent = [1, 2, 3, 4, 5].map((p) => log.push(p));
    expect(sent.map((s) => [s.stamp, s.seq])).toEqual([
      [1, 1],
      [1, 2],
      [1, 3],
      [2, 1],
      [2, 2],
    ]);
    log.ack(2, 2);
    expect(log.unacknowledged().map((e) => [e.stamp, e.seq])).toEqual([
      [1, 1],
      [1, 2],
      [1, 3],
    ]);
  });

  it('[SEQ-4] with a receiver over a lossy link, converges on everything sent exactly once', () => {
    fc.assert(
      fc.property(
        fc.array(fc.boolean(), { minLength: 1, maxLength: 80 }),
        fc.integer({ min: 2, max: 9 }),
        (drops, maxSeq) => {
          const log = new OutboundLog<number>({ maxSeq });
          const receiver = new SequenceReceiver();
          const applied: number[] = [];
          const deliver = (e: { stamp: number; seq: number; payload: number }) => {
            if (receiver.accept('e', e.stamp, e.seq) === 'new') applied.push(e.payload);
          };
          drops.forEach((drop, i) => {
            const entry = log.push(i);
            if (!drop) deliver(entry);
            const ack = receiver.ack('e', entry.stamp);
            if (ack) for (const again of log.ack(ack.stamp, ack.seq, ack.missing)) deliver(again);
          });
          // Reconnect: resend everything unacknowledged, then settle acks for every stamp.
          for (const e of [...log.unacknowledged()]) deliver(e);
          expect(applied.sort((a, b) => a - b)).toEqual(drops.map((_, i) => i));
        },
      ),
      capped(),
    );
  });
});
