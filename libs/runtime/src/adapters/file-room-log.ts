import { unlink, type FileHandle } from 'node:fs/promises';
import type { JsonValue } from '@p3/protocol';
import type { Logger } from 'pino';
import { systemClock } from '../ports/clock.js';
import type { LogEntry, RoomLog } from '../ports/room-log.js';
import type { RoomKey } from '../ports/snapshot-store.js';
import { FileLogIndex } from './file-log-index.js';
import { lockLogDirectory } from './file-log-lock.js';
import { recoverSegments } from './file-log-recovery.js';
import {
  createSegment,
  encodeAppend,
  encodeTruncate,
  readAppendAt,
  syncDirectory,
  type LogSegment,
} from './file-log-segment.js';
import { checkLogVersion, roomMapKey } from './room-log-entries.js';

/** Group commit under load: at most one sync per this many ms unless the options say otherwise. */
export const DEFAULT_COMMIT_INTERVAL_MS = 20;

export interface FileRoomLogOptions {
  /** Where the segment files live (created if missing). One directory per process: the log is not shared. */
  readonly dir: string;
  /**
   * Group commit: after a sync starts, the next waits this long (unless the log was idle), so a busy log costs at
   * most 1000 / commitIntervalMs syncs per second whatever the append rate. Default 20 ms.
   */
  readonly commitIntervalMs?: number;
  /** A new segment file starts once the current one holds this many bytes. Default 16 MiB. */
  readonly maxSegmentBytes?: number;
  readonly logger?: Pick<Logger, 'warn' | 'info' | 'error'>;
}

/** Cumulative counters since open, for metrics: syncs done, and the records and bytes they made durable. */
export interface FileRoomLogStats {
  readonly syncs: number;
  readonly records: number;
  readonly bytes: number;
}

interface Pending {
  readonly buffer: Buffer;
  readonly room: string;
  /** Call order across all rooms: the order records take on disk. */
  readonly seq: number;
  /** The version of an append, or `through` of a truncation marker. */
  readonly version: number;
  readonly truncate: boolean;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

type State = 'new' | 'open' | 'closing' | 'closed';

/**
 * The embedded durable room log: one append-only log shared by every room of the process, so one `fdatasync`
 * (group commit) makes the records of all rooms appended since the previous one durable. See `file-log-segment.ts`
 * for the record format. `read` serves from an in-memory index of record positions, built by `open()`.
 *
 * - Durability: an append resolves after the `writev` and `datasync` holding it succeeded; if either fails, the
 *   whole batch rejects, the segment is cut back to its last synced byte and writing moves to a fresh segment (if
 *   that fails too, the log refuses every later append: restart, the open scan recovers).
 * - Recovery: `open()` validates every record. A bad record in the newest segment is the torn tail of a crash
 *   mid-append: it and what follows are cut off (with a warning). A bad record in an older segment is corruption
 *   of acknowledged data: `open()` rejects rather than silently drop it. Appends then go to a new segment.
 * - Compaction: segments are deleted oldest first, once they and all older ones hold no live record. Out of order,
 *   a deleted newer segment could take with it the truncation marker that hides records of an older one.
 *
 * @example
 * const log = await FileRoomLog.open({ dir: '/var/lib/p3/log', logger });
 * await log.append({ tenant: 'default', room: 'lobby' }, 42, { moved: [3, 4] }); // durable now: ack
 */
export class FileRoomLog implements RoomLog {
  /** Creates the log and runs the recovery scan. */
  static async open(options: FileRoomLogOptions): Promise<FileRoomLog> {
    const log = new FileRoomLog(options);
    await log.open();
    return log;
  }

  private readonly dir: string;
  private readonly commitIntervalMs: number;
  private readonly maxSegmentBytes: number;
  private readonly logger: Pick<Logger, 'warn' | 'info' | 'error'> | undefined;

  private state: State = 'new';
  private opening: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  /** Set when writing cannot go on safely; every later append rejects with it. */
  private failure: Error | undefined;
  /** Oldest first; the last one is where appends go. */
  private readonly segments: LogSegment[] = [];
  private readonly index = new FileLogIndex();

  private pending: Pending[] = [];
  private seq = 0;
  private flushScheduled = false;
  private flushing = false;
  private lastSyncStart = -Infinity;
  private lastSyncEnd = -Infinity;
  private drainWaiters: (() => void)[] = [];
  private readonly counters = { syncs: 0, records: 0, bytes: 0 };
  /** Releases the directory's LOCK (see lockLogDirectory). */
  private unlock: (() => Promise<void>) | undefined;

  /** Reads in flight: handles of compacted segments are closed only once none is using them. */
  private activeReads = 0;
  private retired: FileHandle[] = [];
  private readWaiters: (() => void)[] = [];

  constructor(options: FileRoomLogOptions) {
    const { commitIntervalMs = DEFAULT_COMMIT_INTERVAL_MS, maxSegmentBytes = 16 * 1024 * 1024 } = options;
    if (!(commitIntervalMs >= 0 && Number.isFinite(commitIntervalMs))) {
      throw new RangeError(`commitIntervalMs must be a finite number >= 0, got ${commitIntervalMs}`);
    }
    if (!(Number.isSafeInteger(maxSegmentBytes) && maxSegmentBytes > 0)) {
      throw new RangeError(`maxSegmentBytes must be a positive integer, got ${maxSegmentBytes}`);
    }
    this.dir = options.dir;
    this.commitIntervalMs = commitIntervalMs;
    this.maxSegmentBytes = maxSegmentBytes;
    this.logger = options.logger;
  }

  /** A copy of the counters, for metrics (`syncs / records` shows how well group commit batches). */
  get stats(): FileRoomLogStats {
    return { ...this.counters };
  }

  /** Scans the segments, repairs a torn tail, builds the index and starts a new segment. Idempotent. */
  open(): Promise<void> {
    this.opening ??= this.recover().catch(async (error: unknown) => {
      this.state = 'closed';
      await this.closeHandles();
      throw error;
    });
    return this.opening;
  }

  append(key: RoomKey, version: number, data: JsonValue): Promise<void> {
    let buffer: Buffer;
    try {
      this.checkWritable();
      checkLogVersion(version, 'version');
      buffer = encodeAppend(key.tenant, key.room, version, data);
    } catch (error) {
      return Promise.reject(error as Error);
    }
    return this.enqueue(buffer, roomMapKey(key), version, false);
  }

  truncate(key: RoomKey, through: number): Promise<void> {
    let buffer: Buffer;
    try {
      this.checkWritable();
      checkLogVersion(through, 'through');
      buffer = encodeTruncate(key.tenant, key.room, through);
    } catch (error) {
      return Promise.reject(error as Error);
    }
    const room = roomMapKey(key);
    const marked = this.enqueue(buffer, room, through, true);
    // Hidden from reads at once; appends queued before this call stay hidden once durable (their records precede
    // the marker on disk, so a reopen hides them too).
    this.index.truncate(room, through, this.seq);
    return marked;
  }

  async read(key: RoomKey, after: number): Promise<LogEntry[]> {
    checkLogVersion(after, 'after');
    if (this.state !== 'open' && this.state !== 'closing') throw new Error(`room log is ${this.state}`);
    const entries = this.index.after(roomMapKey(key), after);
    if (entries.length === 0) return [];
    this.activeReads += 1;
    try {
      const result: LogEntry[] = [];
      for (const entry of entries) result.push(await readAppendAt(entry.segment, entry.offset, entry.size));
      return result;
    } finally {
      this.activeReads -= 1;
      if (this.activeReads === 0) this.releaseRetired();
    }
  }

  /** Waits for queued appends to settle and for reads in flight, then closes the files. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  private async shutDown(): Promise<void> {
    if (this.opening) await this.opening.catch(() => undefined);
    if (this.state === 'closed') return;
    this.state = 'closing';
    await new Promise<void>((resolve) => this.whenDrained(resolve));
    if (this.activeReads > 0) await new Promise<void>((resolve) => this.readWaiters.push(resolve));
    this.state = 'closed';
    await this.closeHandles();
  }

  private checkWritable(): void {
    if (this.state !== 'open') throw new Error(`room log is ${this.state}`);
    if (this.failure) throw this.refusal(this.failure);
  }

  private refusal(failure: Error): Error {
    return new Error('room log cannot write any more', { cause: failure });
  }

  private enqueue(buffer: Buffer, room: string, version: number, truncate: boolean): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ buffer, room, version, truncate, seq: ++this.seq, resolve, reject });
      this.scheduleFlush();
    });
  }

  /**
   * Starts a flush at once when the log was idle (a lone append waits for one sync), else commitIntervalMs after
   * the previous sync started, so appends arriving meanwhile share one sync. "At once" is setImmediate: the
   * appends of the current event-loop turn (a tick of many rooms) join the batch.
   */
  private scheduleFlush(): void {
    if (this.flushing || this.flushScheduled || this.pending.length === 0) return;
    this.flushScheduled = true;
    const run = () => {
      this.flushScheduled = false;
      void this.flush();
    };
    const now = systemClock.now();
    const wait =
      now - this.lastSyncEnd > this.commitIntervalMs ? 0 : this.lastSyncStart + this.commitIntervalMs - now;
    if (wait > 0) setTimeout(run, wait);
    else setImmediate(run);
  }

  /** One batch: every pending record in one writev and one datasync. Never throws. */
  private async flush(): Promise<void> {
    this.flushing = true;
    const batch = this.pending;
    this.pending = [];
    this.lastSyncStart = systemClock.now();
    try {
      await this.writeBatch(batch);
      await this.compact();
    } catch (error) {
      // writeBatch settles its batch itself; this only guards against a bug leaving appends unsettled (a
      // promise settles once, so rejecting the resolved ones is a no-op).
      this.logger?.error({ err: error }, 'room log: unexpected flush error');
      this.rejectAll(batch, new Error('room log flush failed', { cause: error }));
    }
    this.lastSyncEnd = systemClock.now();
    this.flushing = false;
    if (this.failure) this.rejectAll(this.pending.splice(0), this.refusal(this.failure));
    this.scheduleFlush();
    if (this.pending.length === 0) for (const waiter of this.drainWaiters.splice(0)) waiter();
  }

  private async writeBatch(batch: Pending[]): Promise<void> {
    if (this.failure) return this.rejectAll(batch, this.refusal(this.failure));
    let segment = this.current();
    if (segment.size >= this.maxSegmentBytes) {
      try {
        segment = await this.startSegment();
      } catch (error) {
        this.failure = new Error('room log: cannot start a new segment', { cause: error });
        this.logger?.error(
          { err: error, dir: this.dir },
          'room log: cannot start a new segment; appends fail',
        );
        return this.rejectAll(batch, this.refusal(this.failure));
      }
    }
    const buffers = batch.map((item) => item.buffer);
    let bytes = 0;
    for (const buffer of buffers) bytes += buffer.length;
    try {
      const { bytesWritten } = await segment.handle.writev(buffers, segment.size);
      if (bytesWritten !== bytes) throw new Error(`short write: ${bytesWritten} of ${bytes} bytes`);
      await segment.handle.datasync();
    } catch (error) {
      // The bytes may be partly on disk, or in a page cache that a failed sync no longer promises to write:
      // no append of this batch may resolve. Cut them off and move on to a fresh segment.
      this.logger?.error({ err: error, file: segment.path }, 'room log: write failed; rejecting its appends');
      this.rejectAll(batch, new Error('room log write failed', { cause: error }));
      return this.isolate(segment);
    }
    this.counters.syncs += 1;
    this.counters.records += batch.length;
    this.counters.bytes += bytes;
    let offset = segment.size;
    segment.size += bytes;
    // Index in queue order, which is disk order: the index then matches what a reopen would rebuild.
    for (const item of batch) {
      const size = item.buffer.length;
      if (item.truncate) this.index.settleTruncate(item.room, item.seq);
      else this.index.add(item.room, { version: item.version, segment, offset, size }, item.seq);
      offset += size;
      item.resolve();
    }
  }

  /** After a failed write: truncate the segment to its synced bytes, then continue in a new segment. */
  private async isolate(segment: LogSegment): Promise<void> {
    try {
      await segment.handle.truncate(segment.size);
      await segment.handle.datasync();
      await this.startSegment();
      this.logger?.warn({ file: segment.path, bytes: segment.size }, 'room log: continuing in a new segment');
    } catch (error) {
      // If the cut did not happen the segment is still the newest (a new one is created only after the cut is
      // synced), so the next open repairs its tail as a torn tail.
      this.failure = new Error('room log: cannot recover from a write failure', { cause: error });
      this.logger?.error({ err: error, file: segment.path }, 'room log: cannot recover; appends fail');
    }
  }

  /** Deletes segments with no live record, oldest first, never the current one; each deletion made durable. */
  private async compact(): Promise<void> {
    for (;;) {
      const oldest = this.segments[0];
      if (oldest === undefined || this.segments.length === 1 || oldest.live > 0) return;
      try {
        await unlink(oldest.path);
        // One directory sync per file keeps deletions in order on disk too (see the class doc).
        await syncDirectory(this.dir);
      } catch (error) {
        this.logger?.error({ err: error, file: oldest.path }, 'room log: cannot delete a compacted segment');
        return;
      }
      this.segments.shift();
      this.retired.push(oldest.handle);
      if (this.activeReads === 0) this.releaseRetired();
    }
  }

  private async recover(): Promise<void> {
    // Before the scan: another live process's unsynced tail would look torn and be cut off.
    this.unlock = await lockLogDirectory(this.dir);
    await recoverSegments(this.dir, this.index, this.segments, this.logger);
    // Never append after a repaired tail: a fresh segment keeps old and new bytes apart.
    await this.startSegment();
    this.state = 'open';
    await this.compact();
    this.logger?.info(
      { dir: this.dir, segments: this.segments.length, rooms: this.index.roomCount },
      'room log: opened',
    );
  }

  private async startSegment(): Promise<LogSegment> {
    const segment = await createSegment(this.dir, (this.segments[this.segments.length - 1]?.id ?? 0) + 1);
    this.segments.push(segment);
    return segment;
  }

  private current(): LogSegment {
    const segment = this.segments[this.segments.length - 1];
    if (segment === undefined) throw new Error('room log has no segment (not open)');
    return segment;
  }

  private whenDrained(resolve: () => void): void {
    if (!this.flushing && !this.flushScheduled && this.pending.length === 0) resolve();
    else this.drainWaiters.push(resolve);
  }

  private rejectAll(items: Pending[], error: Error): void {
    for (const item of items) {
      if (item.truncate) this.index.settleTruncate(item.room, item.seq);
      item.reject(error);
    }
  }

  private releaseRetired(): void {
    for (const handle of this.retired.splice(0)) void handle.close().catch(() => undefined);
    for (const waiter of this.readWaiters.splice(0)) waiter();
  }

  private async closeHandles(): Promise<void> {
    const handles = [...this.segments.splice(0).map((segment) => segment.handle), ...this.retired.splice(0)];
    await Promise.allSettled(handles.map((handle) => handle.close()));
    const unlock = this.unlock;
    this.unlock = undefined;
    await unlock?.().catch(() => undefined);
  }
}
