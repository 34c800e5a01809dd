import type { JsonValue } from '@p3/protocol';
import type { RoomKey } from './snapshot-store.js';

/** One record of a room's log: what the room accepted at `version` (a frame id, or a document version). */
export interface LogEntry {
  readonly version: number;
  readonly data: JsonValue;
}

/**
 * The append-only, per-room log of what rooms accepted (world steps with the sequence numbers they consumed,
 * document changes with their versions): the durable half of "an ack means durable". A room appends a record
 * before it acknowledges what the record holds, and recovers as latest snapshot + the records after it.
 *
 * Guarantees every implementation keeps (checked by the contract suite `describeRoomLogContract`):
 * - `append` resolves only once the record is durable: a crash of the process after that keeps it. It rejects
 *   when the record could not be made durable; the caller must then not acknowledge anything the record holds.
 * - Appends of one room become durable, and resolve, in call order. Versions of one room's records increase
 *   strictly (callers keep that; an implementation may refuse a record that does not).
 * - `read` returns the records of one room with a version above `after`, oldest first, exactly as appended:
 *   never a torn or partial record (a crash mid-append loses that record, and only records not yet resolved).
 * - `truncate` forgets the records of one room up to a version (a durable snapshot covers them); a later `read`
 *   never returns them. Space is reclaimed when an implementation sees fit (compaction).
 * - Rooms never see each other's records. Many rooms share one implementation, so that one durable write (one
 *   fdatasync, one transaction) can cover the records of every room appended since the last one (group commit).
 */
export interface RoomLog {
  append(key: RoomKey, version: number, data: JsonValue): Promise<void>;
  read(key: RoomKey, after: number): Promise<LogEntry[]>;
  truncate(key: RoomKey, through: number): Promise<void>;
  /** Waits for pending appends, then releases files and connections. */
  close(): Promise<void>;
}
