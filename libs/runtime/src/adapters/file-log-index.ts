import type { LogSegment } from './file-log-segment.js';
import { dropThrough, firstAbove, upsertByVersion } from './room-log-entries.js';

/** Where a durable record lives, so `read` fetches it with one positional read. */
export interface IndexEntry {
  readonly version: number;
  readonly segment: LogSegment;
  readonly offset: number;
  /** Header and payload. */
  readonly size: number;
}

interface RoomRecords {
  /** Sorted by version. */
  readonly entries: IndexEntry[];
  /** Truncates called whose marker is not yet durable (oldest first): they hide appends queued before them. */
  truncating: { readonly seq: number; readonly through: number }[];
}

/**
 * The file log's in-memory index: per room, the readable durable records and where they are; per segment, how many
 * of them it holds (`live`, which compaction reads). It mirrors what a reopen would rebuild from the files: records
 * enter it in disk order, and a truncation hides exactly what its marker hides on disk.
 */
export class FileLogIndex {
  private readonly rooms = new Map<string, RoomRecords>();

  get roomCount(): number {
    return this.rooms.size;
  }

  /** The room's records above `after`, oldest first: a copy, so later changes do not reach a read in flight. */
  after(room: string, after: number): IndexEntry[] {
    const records = this.rooms.get(room);
    return records === undefined ? [] : records.entries.slice(firstAbove(records.entries, after));
  }

  /**
   * A durable append (in disk order). `seq` is its place in call order: a truncate called after it, whose marker
   * follows it on disk, hides it already. Markers settle in queue order, so every truncate still listed was
   * called after this append.
   */
  add(room: string, entry: IndexEntry, seq = Infinity): void {
    const records = this.records(room);
    if (records.truncating.some((truncate) => truncate.seq > seq && truncate.through >= entry.version))
      return;
    entry.segment.live += 1;
    const replaced = upsertByVersion(records.entries, entry);
    if (replaced) replaced.segment.live -= 1;
  }

  /** A truncate called (`seq` in call order) or replayed from its marker: hides the records up to `through`. */
  truncate(room: string, through: number, seq?: number): void {
    const records = this.records(room);
    if (seq !== undefined) records.truncating.push({ seq, through });
    for (const entry of dropThrough(records.entries, through)) entry.segment.live -= 1;
    this.forgetIfEmpty(room, records);
  }

  /** The marker of truncate `seq` is durable, or failed (the truncate rejected): it hides no queued append any more. */
  settleTruncate(room: string, seq: number): void {
    const records = this.rooms.get(room);
    if (records === undefined) return;
    records.truncating = records.truncating.filter((truncate) => truncate.seq > seq);
    this.forgetIfEmpty(room, records);
  }

  /** Rooms come and go: one with no record and no truncate pending takes no memory. */
  private forgetIfEmpty(room: string, records: RoomRecords): void {
    if (records.entries.length === 0 && records.truncating.length === 0) this.rooms.delete(room);
  }

  private records(room: string): RoomRecords {
    let records = this.rooms.get(room);
    if (records === undefined) {
      records = { entries: [], truncating: [] };
      this.rooms.set(room, records);
    }
    return records;
  }
}
