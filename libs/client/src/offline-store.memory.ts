import type { OfflineStore, PersistedOutbound } from './offline-store.js';

/**
 * Keeps the offline queue in memory: it survives a new P3Client in the same process (tests, a single-page app that
 * re-creates its client), not a reload. Stores a copy, so callers may keep mutating what they passed.
 */
export class MemoryOfflineStore implements OfflineStore {
  private state: string | undefined;
  /** Number of completed saves (tests use it to wait for persistence). */
  saves = 0;

  async load(): Promise<PersistedOutbound | null> {
    return this.state === undefined ? null : (JSON.parse(this.state) as PersistedOutbound);
  }

  async save(state: PersistedOutbound): Promise<void> {
    this.state = JSON.stringify(state);
    this.saves++;
  }

  /** The saved state (a copy), for inspection. */
  peek(): PersistedOutbound | null {
    return this.state === undefined ? null : (JSON.parse(this.state) as PersistedOutbound);
  }
}
