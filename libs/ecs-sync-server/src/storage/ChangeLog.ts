import type { Patch } from '@p3/protocol';

/** One applied document change as the log keeps it: its room timestamp and the patches applied at it. */
export interface LoggedChange {
  readonly timestamp: number;
  readonly documentPatches: readonly Patch[];
}

/**
 * A durable log of one room's document changes (optional, `RoomOptions.log`): with it, an ack means durable.
 * The room appends every applied change before anything reflecting it leaves the room, and recovers as the
 * storage snapshot plus the changes logged after it (SPEC.md, [LOG-1]..[LOG-4]).
 *
 * Guarantees an implementation must give:
 * - `append` resolves once the change is durable (a crash of the process afterwards keeps it), and appends
 *   resolve in call order. It rejects when the change could not be made durable; the room then acknowledges
 *   nothing that depended on it.
 * - `read(after)` returns the changes with a timestamp above `after`, oldest first, exactly as appended (never a
 *   torn one). Timestamps of one room increase strictly.
 * - `truncate(through)` forgets the changes up to `through` (a saved snapshot covers them).
 *
 * @example
 * const room = new Room({ storage, log: myDurableLog });
 * await room.load(); // snapshot + log.read(snapshot.timestamp)
 */
export interface ChangeLog {
  /** Resolves once the change is durable; changes resolve in append order. Rejects if it could not be made durable. */
  append(change: LoggedChange): Promise<void>;
  /** Changes with a timestamp above `after`, oldest first. */
  read(after: number): Promise<LoggedChange[]>;
  /** Forgets changes up to `through` (a saved snapshot covers them). */
  truncate(through: number): Promise<void>;
}
