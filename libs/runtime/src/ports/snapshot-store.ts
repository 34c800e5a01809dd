/** Identifies a room across the cluster. Single-tenant installs use tenant `default`. */
export interface RoomKey {
  readonly tenant: string;
  readonly room: string;
}

/**
 * A durable room snapshot. `version` is the room version it captures (frame id for ticked rooms, timestamp for
 * document rooms); `epoch` is the owner's fencing token (0 in single-process mode).
 */
export interface StoredSnapshot<T = unknown> {
  readonly kind: 'world' | 'document';
  readonly version: number;
  readonly epoch: number;
  readonly data: T;
  /** The team that owns the room (rooms are visible only to their team when authentication is on). */
  readonly team?: string;
}

export type SaveOutcome = 'saved' | 'stale';

/**
 * Where room snapshots live. Guarantees every implementation keeps (checked by the contract suite):
 * - `save` is durable when its promise resolves (a crash afterwards loses nothing);
 * - a save never replaces a snapshot of a higher epoch, or of the same epoch and a higher version: it resolves
 *   `stale` instead (fencing, so a deposed owner cannot overwrite its successor);
 * - `load` returns the latest saved snapshot or null; it never returns a torn or partial one.
 */
export interface SnapshotStore {
  load(key: RoomKey): Promise<StoredSnapshot | null>;
  save(key: RoomKey, snapshot: StoredSnapshot): Promise<SaveOutcome>;
  /** Releases connections and files. */
  close(): Promise<void>;
}

export function isNewer(
  candidate: Pick<StoredSnapshot, 'epoch' | 'version'>,
  current: Pick<StoredSnapshot, 'epoch' | 'version'>,
): boolean {
  return (
    candidate.epoch > current.epoch ||
    (candidate.epoch === current.epoch && candidate.version >= current.version)
  );
}
