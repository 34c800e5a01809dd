import fc from 'fast-check';
import { capped } from '@p3/test-support/property';
import { describe, expect, it } from 'vitest';
import { isUuid } from '@p3/protocol';
import { createRandom, frameSeed, uuidv7, uuidv7Time } from '@p3/engine';

describe('uuidv7', () => {
  it('produces valid version-7 UUIDs carrying the timestamp', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 48 - 1 }),
        fc.tuple(fc.nat(), fc.nat(), fc.nat()),
        (ms, r) => {
          const id = uuidv7(ms, r);
          expect(isUuid(id)).toBe(true);
          expect(id[14]).toBe('7');
          expect('89ab').toContain(id[19]);
          expect(uuidv7Time(id)).toBe(ms);
        },
      ),
      capped(),
    );
  });

  it('sorts by creation time', () => {
    const a = uuidv7(1000, [0xffffffff, 0xffffffff, 0xffffffff]);
    const b = uuidv7(1001, [0, 0, 0]);
    expect(a < b).toBe(true);
  });
});

describe('seeded random', () => {
  it('repeats the same sequence for the same frame seed and differs across frames', () => {
    const draw = (seed: number) => {
      const r = createRandom(seed);
      return [r.next(), r.next(), r.next()];
    };
    expect(draw(frameSeed(1, 10))).toEqual(draw(frameSeed(1, 10)));
    expect(draw(frameSeed(1, 10))).not.toEqual(draw(frameSeed(1, 11)));
    for (const v of draw(frameSeed(5, 5))) expect(v >= 0 && v < 1).toBe(true);
  });
});
