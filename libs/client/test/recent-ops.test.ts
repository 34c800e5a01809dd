import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { capped } from '@p3/test-support/property';
import { RecentOps } from '../src/recent-ops.js';

describe('RecentOps', () => {
  it('[CLIENT-10] finds the op remembered last for (stamp, seq) among the last `capacity`, and nothing older (property)', () => {
    const key = fc.record({ stamp: fc.integer({ min: 1, max: 3 }), seq: fc.integer({ min: 1, max: 6 }) });
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.array(
          fc.oneof(
            key.map((k) => ({ ...k, find: false })),
            key.map((k) => ({ ...k, find: true })),
          ),
          {
            maxLength: 60,
          },
        ),
        (capacity, steps) => {
          const ring = new RecentOps<number>(capacity);
          const model: Array<{ stamp: number; seq: number; item: number }> = [];
          steps.forEach((s, item) => {
            if (!s.find) {
              ring.remember(s.stamp, s.seq, item);
              model.push({ stamp: s.stamp, seq: s.seq, item });
              return;
            }
            const kept = model.slice(-capacity);
            const expected = kept.reverse().find((m) => m.stamp === s.stamp && m.seq === s.seq)?.item;
            expect(ring.find(s.stamp, s.seq)).toBe(expected);
          });
        },
      ),
      capped(),
    );
  });
});
