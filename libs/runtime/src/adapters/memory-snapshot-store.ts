import {
  isNewer,
  type RoomKey,
  type SaveOutcome,
  type SnapshotStore,
  type StoredSnapshot,
} from '../ports/snapshot-store.js';

/** Snapshots in process memory (tests, transient rooms). Stores a deep copy so callers can keep mutating. */
export class MemorySnapshotStore implements SnapshotStore {
  /** The text is a copy that callers cannot mutate; epoch and version beside it spare a parse per save. */
  private readonly snapshots = new Map<
    string,
    { readonly epoch: number; readonly version: number; readonly text: string }
  >();

  async load(key: RoomKey): Promise<StoredSnapshot | null> {
    const stored = this.snapshots.get(keyOf(key));
    return stored === undefined ? null : (JSON.parse(stored.text) as StoredSnapshot);
  }

  async save(key: RoomKey, snapshot: StoredSnapshot): Promise<SaveOutcome> {
    // Read and write with no await in between: concurrent saves must not interleave.
    const current = this.snapshots.get(keyOf(key));
    if (current && !isNewer(snapshot, current)) return 'stale';
    this.snapshots.set(keyOf(key), {
      epoch: snapshot.epoch,
      version: snapshot.version,
      text: JSON.stringify(snapshot),
    });
    return 'saved';
  }

  async close(): Promise<void> {}
}

const keyOf = (key: RoomKey) => `${key.tenant}\u0000${key.room}`;
