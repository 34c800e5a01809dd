import type { RoomKey } from './snapshot-store.js';

/**
 * Where a room message sits in the room's output: `epoch` is the owner's fencing token, `seq` numbers the owner's
 * output. Positions order lexicographically: first by `epoch`, then by `seq` (see {@link comparePositions}), so
 * everything a newer owner sends comes after everything an older owner sent, whatever the seqs.
 */
export interface BufferPosition {
  readonly epoch: number;
  readonly seq: number;
}

/**
 * The position before any entry: `range(key, START_POSITION)` asks for everything kept. (0, 0) itself is never an
 * entry's position (a single-process room, epoch 0, numbers its output from seq 1).
 */
export const START_POSITION: BufferPosition = Object.freeze({ epoch: 0, seq: 0 });

/** One buffered room message: an encoded frame (or another room message) and where it sits in the output. */
export interface BufferedEntry extends BufferPosition {
  /** The simulation frame the message belongs to (what a failover replays "after the snapshot's version"). */
  readonly frame: number;
  /** The encoded message, exactly as appended. */
  readonly payload: Uint8Array;
}

/** What `range` found. */
export interface BufferedRange {
  /** The kept entries after the asked position, oldest first (at most `limit`). */
  readonly entries: readonly BufferedEntry[];
  /**
   * `false` when entries after the asked position were dropped (capacity): `entries` then starts at the oldest kept
   * entry, and there is a hole before it. The caller must not treat the entries as the whole story; it falls back
   * to a snapshot (a client catch-up, a failover's log replay) instead of silently missing messages.
   * `true` when nothing after the asked position was dropped (a `limit` cutting the tail does not make it false:
   * page on from the last entry returned).
   */
  readonly complete: boolean;
}

/** Stable codes of {@link FrameBufferError}: part of the public API, never renamed, only added. */
export const FrameBufferErrorCode = {
  /**
   * An append whose (epoch, seq) is not after the room's latest entry: a deposed owner writing after its successor
   * started, or a replayed append. Nothing was written.
   */
  Stale: 'FRAME_BUFFER_STALE',
  /** An epoch, seq, frame or limit that is not a non-negative safe integer (limit: positive), or position (0, 0). */
  Invalid: 'FRAME_BUFFER_INVALID',
  /** A call after `close()`. */
  Closed: 'FRAME_BUFFER_CLOSED',
} as const;
export type FrameBufferErrorCode = (typeof FrameBufferErrorCode)[keyof typeof FrameBufferErrorCode];

/**
 * A refused frame-buffer call. Branch on `code`.
 *
 * @example
 * try { await buffer.append(key, entry); }
 * catch (error) { if (error instanceof FrameBufferError && error.code === FrameBufferErrorCode.Stale) stepDown(); }
 */
export class FrameBufferError extends Error {
  override readonly name = 'FrameBufferError';

  constructor(
    readonly code: FrameBufferErrorCode,
    message: string,
    /** For `Stale`: the room's latest position, which the refused append did not exceed. */
    readonly latest?: BufferPosition,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Negative when `a` comes before `b`, 0 when equal, positive after: (epoch, seq) lexicographic. */
export function comparePositions(a: BufferPosition, b: BufferPosition): number {
  return a.epoch !== b.epoch ? a.epoch - b.epoch : a.seq - b.seq;
}

/** Capacity options every implementation takes. */
export interface FrameBufferOptions {
  /** Entries kept per room; older ones are dropped (see each implementation for how exactly). Default 256. */
  readonly maxEntries?: number;
}

export const DEFAULT_FRAME_BUFFER_ENTRIES = 256;

/**
 * The recent output of each room (encoded frames and other room messages), kept for gap repair at the gateways,
 * reconnect catch-up of clients and replay by a failed-over simulator. It is a cache of the output, not a log:
 * the durable truth is the room log and the snapshots, so an implementation may lose the buffer on a restart.
 *
 * Guarantees every implementation keeps (checked by `describeFrameBufferContract`):
 * - Entries of one room come back in append order, which is (epoch, seq) order, with their bytes unchanged.
 * - `append` refuses, with a `FrameBufferError` of code `Stale`, an entry whose (epoch, seq) is not greater than
 *   the room's latest one, atomically with the write: once a newer epoch appended, a stale owner cannot write into
 *   the buffer, and an older epoch's entry never follows a newer one's. A new epoch may start at any seq (e.g. 1).
 * - `range(key, after, limit)` returns the kept entries after `after`, oldest first, and says whether entries after
 *   `after` were dropped (`complete: false`, see {@link BufferedRange}). Entries of older epochs that were appended
 *   before the newest epoch started stay readable (a failover replays them).
 * - Capacity: each room keeps at least its newest `maxEntries` entries and drops older ones; the latest entry is
 *   always kept. An implementation may keep a bounded number more (documented on it).
 * - `clear` forgets a room's entries and its fence: the room reads as never written, and any position may be
 *   appended next. Only the room's current owner clears, when the room closes for good.
 * - Rooms and tenants never see each other's entries, whatever characters their ids hold.
 * - Calls after `close` reject with code `Closed`.
 *
 * @example
 * await buffer.append(key, { epoch: 3, seq: 41, frame: 1200, payload });
 * const { entries, complete } = await buffer.range(key, { epoch: 3, seq: 40 });
 * if (!complete) await catchUpFromSnapshot();
 */
export interface FrameBuffer {
  append(key: RoomKey, entry: BufferedEntry): Promise<void>;
  range(key: RoomKey, after: BufferPosition, limit?: number): Promise<BufferedRange>;
  /** The room's newest entry, or null when it has none. */
  latest(key: RoomKey): Promise<BufferedEntry | null>;
  clear(key: RoomKey): Promise<void>;
  /** Stops accepting calls; an implementation that was given a client leaves that client open. */
  close(): Promise<void>;
}

function checkInteger(value: number, name: string, min: number): void {
  if (!Number.isSafeInteger(value) || value < min)
    throw new FrameBufferError(
      FrameBufferErrorCode.Invalid,
      `${name} must be an integer >= ${min}, got ${String(value)}`,
    );
}

/** Validates an entry to append (shared by the implementations so they refuse the same things). */
export function checkEntry(entry: BufferedEntry): void {
  checkInteger(entry.epoch, 'epoch', 0);
  checkInteger(entry.seq, 'seq', 0);
  checkInteger(entry.frame, 'frame', 0);
  if (!(entry.payload instanceof Uint8Array))
    throw new FrameBufferError(FrameBufferErrorCode.Invalid, 'payload must be a Uint8Array');
  if (comparePositions(entry, START_POSITION) <= 0)
    throw new FrameBufferError(FrameBufferErrorCode.Invalid, 'position (0, 0) is the start, not an entry');
}

/** Validates `range` arguments. */
export function checkRange(after: BufferPosition, limit: number | undefined): void {
  checkInteger(after.epoch, 'after.epoch', 0);
  checkInteger(after.seq, 'after.seq', 0);
  if (limit !== undefined) checkInteger(limit, 'limit', 1);
}

/** The validated capacity of a buffer's options. */
export function maxEntriesOf(options: FrameBufferOptions): number {
  const maxEntries = options.maxEntries ?? DEFAULT_FRAME_BUFFER_ENTRIES;
  checkInteger(maxEntries, 'maxEntries', 1);
  return maxEntries;
}

export function staleError(entry: BufferPosition, latest: BufferPosition): FrameBufferError {
  return new FrameBufferError(
    FrameBufferErrorCode.Stale,
    `append at (${entry.epoch}, ${entry.seq}) is not after the latest entry (${latest.epoch}, ${latest.seq})`,
    { epoch: latest.epoch, seq: latest.seq },
  );
}

export function closedError(): FrameBufferError {
  return new FrameBufferError(FrameBufferErrorCode.Closed, 'the frame buffer is closed');
}
