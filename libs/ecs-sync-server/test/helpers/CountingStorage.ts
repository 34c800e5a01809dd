import { MemoryStorage, type RoomSnapshot, type SyncStorage } from '../../src/index.js';

/** A storage that counts saves, can be made to fail, and lets a test wait for the n-th save. */
export class CountingStorage implements SyncStorage {
  readonly saves: RoomSnapshot[] = [];
  loads = 0;
  failNext = 0;
  private readonly inner: MemoryStorage;
  private readonly waiters: { count: number; resolve: () => void }[] = [];

  constructor(initial: RoomSnapshot | null = null) {
    this.inner = new MemoryStorage(initial);
  }

  load(): Promise<RoomSnapshot | null> {
    this.loads++;
    return this.inner.load();
  }

  async save(snapshot: RoomSnapshot): Promise<void> {
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('disk full');
    }
    await this.inner.save(snapshot);
    this.saves.push(structuredClone(snapshot));
    for (const waiter of this.waiters.filter((w) => this.saves.length >= w.count)) {
      this.waiters.splice(this.waiters.indexOf(waiter), 1);
      waiter.resolve();
    }
  }

  /** Resolves once `count` saves succeeded. */
  waitForSaves(count: number): Promise<void> {
    if (this.saves.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ count, resolve }));
  }
}
