import type { RoomSnapshot } from '../types.js';

/**
 * Durable storage of one room's document (seed 003). A {@link Room} holds one instance.
 *
 * Guarantees an implementation must give (checked by the contract suite `describeSyncStorageContract`):
 * - `load()` resolves `null` when nothing was saved for the room yet, and otherwise the last saved snapshot;
 *   it rejects (never resolves `null`) when stored data exists but cannot be read, so that a room never starts
 *   empty over a document it failed to read.
 * - `save()` resolves once the snapshot is durable. Saves of one instance apply in call order (the last call
 *   wins); the room never runs two saves at once but other writers might.
 * - What `load()` returns is not aliased to what was saved (mutating one never changes the other).
 *
 * @example
 * const room = new Room({ storage: new FileStorage({ dir: './data', roomId: 'my-room' }) });
 * await room.load();
 */
export interface SyncStorage {
  load(): Promise<RoomSnapshot | null>;
  save(snapshot: RoomSnapshot): Promise<void>;
}

/** Optional ability: a storage that holds resources (a connection pool) to release when its room is dropped. */
export interface ClosableStorage {
  close(): Promise<void>;
}

export function isClosableStorage(storage: SyncStorage): storage is SyncStorage & ClosableStorage {
  return typeof (storage as Partial<ClosableStorage>).close === 'function';
}
