import {
  isNewer,
  type RoomKey,
  type SaveOutcome,
  type SnapshotStore,
  type StoredSnapshot,
} from '../ports/snapshot-store.js';

/** Snapshots in process memory (tests, transient rooms). Stores a deep copy so callers can keep mutating. */
export class MemorySnapshotStore implements SnapshotStore {
  private readonly snapshots = new Map<string, string>();

  async load(key: RoomKey): Promise<StoredSnapshot | null> {
    const text = this.snapshots.get(keyOf(key));
    return text === undefined ? null : (JSON.parse(text) as StoredSnapshot);
  }

  async save(key: RoomKey, snapshot: StoredSnapshot): Promise<SaveOutcome> {
    // Read and write with no await in between: concurrent saves must not interleave.
    const text = this.snapshots.get(keyOf(key));
    const current = text === undefined ? undefined : (JSON.parse(text) as StoredSnapshot);
    if (current && !isNewer(snapshot, current)) return 'stale';
    this.snapshots.set(keyOf(key), JSON.stringify(snapshot));
    return 'saved';
  }

  async close(): Promise<void> {}
}

const keyOf = (key: RoomKey) => `${key.tenant}\u0000${key.room}`;
