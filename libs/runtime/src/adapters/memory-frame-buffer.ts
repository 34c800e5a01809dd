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

interface RoomBuffer {
  /** Kept entries, oldest first (append order is (epoch, seq) order, so the array is sorted). */
  readonly entries: BufferedEntry[];
  /** The newest entry dropped for capacity: a `range` from before it has a hole. */
  droppedThrough: BufferPosition | null;
}

/**
 * A frame buffer in process memory (single-process servers, tests). Keeps exactly `maxEntries` entries per room.
 * Payloads are copied on the way in and on the way out, so neither the appender nor a reader can alter what the
 * buffer holds.
 *
 * @example
 * const buffer = new MemoryFrameBuffer({ maxEntries: 128 });
 * await buffer.append({ tenant: 'default', room: 'lobby' }, { epoch: 0, seq: 1, frame: 10, payload });
 */
export class MemoryFrameBuffer implements FrameBuffer {
  private readonly rooms = new Map<string, RoomBuffer>();
  private readonly maxEntries: number;
  private closed = false;

  constructor(options: FrameBufferOptions = {}) {
    this.maxEntries = maxEntriesOf(options);
  }

  async append(key: RoomKey, entry: BufferedEntry): Promise<void> {
    this.checkOpen();
    checkEntry(entry);
    const mapKey = roomKeyOf(key);
    const room = this.rooms.get(mapKey) ?? { entries: [], droppedThrough: null };
    const latest = room.entries.at(-1);
    if (latest !== undefined && comparePositions(entry, latest) <= 0) throw staleError(entry, latest);
    room.entries.push({
      epoch: entry.epoch,
      seq: entry.seq,
      frame: entry.frame,
      payload: entry.payload.slice(),
    });
    // Capacity is small (hundreds), so shifting one entry is cheaper than keeping a ring buffer's indexes right.
    if (room.entries.length > this.maxEntries) {
      const dropped = room.entries.shift();
      if (dropped !== undefined) room.droppedThrough = { epoch: dropped.epoch, seq: dropped.seq };
    }
    this.rooms.set(mapKey, room);
  }

  async range(key: RoomKey, after: BufferPosition, limit?: number): Promise<BufferedRange> {
    this.checkOpen();
    checkRange(after, limit);
    const room = this.rooms.get(roomKeyOf(key));
    if (room === undefined) return { entries: [], complete: true };
    const start = firstAfter(room.entries, after);
    const end = limit === undefined ? room.entries.length : Math.min(room.entries.length, start + limit);
    return {
      entries: room.entries.slice(start, end).map(copyEntry),
      complete: room.droppedThrough === null || comparePositions(after, room.droppedThrough) >= 0,
    };
  }

  async latest(key: RoomKey): Promise<BufferedEntry | null> {
    this.checkOpen();
    const last = this.rooms.get(roomKeyOf(key))?.entries.at(-1);
    return last === undefined ? null : copyEntry(last);
  }

  async clear(key: RoomKey): Promise<void> {
    this.checkOpen();
    this.rooms.delete(roomKeyOf(key));
  }

  async close(): Promise<void> {
    this.closed = true;
    this.rooms.clear();
  }

  private checkOpen(): void {
    if (this.closed) throw closedError();
  }
}

/** JSON of the pair: distinct (tenant, room) pairs never share a key, whatever characters they hold. */
const roomKeyOf = (key: RoomKey): string => JSON.stringify([key.tenant, key.room]);

const copyEntry = (entry: BufferedEntry): BufferedEntry => ({ ...entry, payload: entry.payload.slice() });

/** Index of the first entry after `after` (binary search: entries are sorted by position). */
function firstAfter(entries: readonly BufferedEntry[], after: BufferPosition): number {
  let low = 0;
  let high = entries.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    const entry = entries[middle];
    if (entry !== undefined && comparePositions(entry, after) <= 0) low = middle + 1;
    else high = middle;
  }
  return low;
}
