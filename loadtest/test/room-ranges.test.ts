import { describe, expect, it } from 'vitest';
import { splitRooms } from '../src/room-ranges.js';

describe('splitRooms', () => {
  it('splits rooms into contiguous ranges whose sizes differ by at most one, larger first', () => {
    expect(splitRooms(5, 2)).toEqual([
      { offset: 0, count: 3 },
      { offset: 3, count: 2 },
    ]);
    expect(splitRooms(20, 3)).toEqual([
      { offset: 0, count: 7 },
      { offset: 7, count: 7 },
      { offset: 14, count: 6 },
    ]);
  });

  it('never makes an empty range: at most one process per room', () => {
    expect(splitRooms(2, 4)).toEqual([
      { offset: 0, count: 1 },
      { offset: 1, count: 1 },
    ]);
    expect(splitRooms(1, 1)).toEqual([{ offset: 0, count: 1 }]);
  });

  it('covers every room exactly once', () => {
    for (let rooms = 1; rooms <= 30; rooms++) {
      for (let parts = 1; parts <= 8; parts++) {
        const ranges = splitRooms(rooms, parts);
        let next = 0;
        for (const range of ranges) {
          expect(range.offset).toBe(next);
          expect(range.count).toBeGreaterThan(0);
          next += range.count;
        }
        expect(next).toBe(rooms);
        expect(ranges).toHaveLength(Math.min(rooms, parts));
      }
    }
  });
});
