/** Rooms `offset .. offset + count - 1`: what one load process runs. */
export interface RoomRange {
  readonly offset: number;
  readonly count: number;
}

/**
 * Splits rooms `0 .. rooms - 1` into `min(parts, rooms)` contiguous ranges whose sizes differ by at most one (the
 * larger ones first). Whole rooms only: a room's sender and receivers must share one process's clock.
 */
export function splitRooms(rooms: number, parts: number): RoomRange[] {
  const n = Math.max(1, Math.min(parts, rooms));
  const base = Math.floor(rooms / n);
  const larger = rooms % n;
  const ranges: RoomRange[] = [];
  let offset = 0;
  for (let i = 0; i < n; i++) {
    const count = base + (i < larger ? 1 : 0);
    ranges.push({ offset, count });
    offset += count;
  }
  return ranges;
}
