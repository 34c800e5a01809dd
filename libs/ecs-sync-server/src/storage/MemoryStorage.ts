import type { RoomSnapshot } from '../types.js';
import type { SyncStorage } from './SyncStorage.js';

/**
 * Keeps the last saved snapshot in memory: the default storage, for development and transient rooms.
 * Snapshots are copied on save and on load, so callers can never alias the stored state.
 *
 * @example
 * const room = new Room({ storage: new MemoryStorage() });
 */
export class MemoryStorage implements SyncStorage {
  private snapshot: RoomSnapshot | null;

  constructor(initial: RoomSnapshot | null = null) {
    this.snapshot = initial === null ? null : structuredClone(initial);
  }

  load(): Promise<RoomSnapshot | null> {
    return Promise.resolve(this.snapshot === null ? null : structuredClone(this.snapshot));
  }

  save(snapshot: RoomSnapshot): Promise<void> {
    this.snapshot = structuredClone(snapshot);
    return Promise.resolve();
  }
}
