import { ErrorCode, P3Error } from '@p3/protocol';
import type { OfflineStore, PersistedOutbound } from './offline-store.js';

const storeName = 'outbound';

/**
 * Keeps the offline queue in the browser's IndexedDB, so a reload resumes the same client id and replays.
 * Nothing touches `indexedDB` until `load`/`save` run, and both reject (P3Error INTERNAL) where it does not exist,
 * e.g. in Node: constructing one is always safe.
 *
 * @example
 * const p3 = new P3Client({ host, port, instanceId: 'lobby', offlineStore: new IndexedDbOfflineStore('my-game') });
 */
export class IndexedDbOfflineStore implements OfflineStore {
  private db: Promise<IDBDatabase> | undefined;

  /** `name` is the database name; `key` lets several clients (rooms) share one database. */
  constructor(
    readonly name = 'p3-client',
    readonly key = 'default',
  ) {}

  static isAvailable(): boolean {
    return typeof indexedDB !== 'undefined';
  }

  async load(): Promise<PersistedOutbound | null> {
    const db = await this.open();
    const value = await request<unknown>(
      db.transaction(storeName, 'readonly').objectStore(storeName).get(this.key),
    );
    return value === undefined ? null : (value as PersistedOutbound);
  }

  async save(state: PersistedOutbound): Promise<void> {
    const db = await this.open();
    const tx = db.transaction(storeName, 'readwrite');
    tx.objectStore(storeName).put(state, this.key);
    await new Promise<void>((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error ?? new P3Error(ErrorCode.Internal, 'IndexedDB write failed'));
      tx.onabort = () => reject(tx.error ?? new P3Error(ErrorCode.Internal, 'IndexedDB write aborted'));
    });
  }

  private open(): Promise<IDBDatabase> {
    if (!IndexedDbOfflineStore.isAvailable()) {
      return Promise.reject(
        new P3Error(
          ErrorCode.Internal,
          'IndexedDB is not available here (use MemoryOfflineStore or your own OfflineStore)',
        ),
      );
    }
    this.db ??= new Promise<IDBDatabase>((resolve, reject) => {
      const open = indexedDB.open(this.name, 1);
      open.onupgradeneeded = () => {
        if (!open.result.objectStoreNames.contains(storeName)) open.result.createObjectStore(storeName);
      };
      open.onsuccess = () => resolve(open.result);
      open.onerror = () => reject(open.error ?? new P3Error(ErrorCode.Internal, 'IndexedDB open failed'));
    });
    // A failed open (private mode, quota, a blocked upgrade) is retried by the next call, not cached.
    this.db.catch(() => {
      this.db = undefined;
    });
    return this.db;
  }
}

function request<T>(req: IDBRequest): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    req.onsuccess = () => resolve(req.result as T);
    req.onerror = () => reject(req.error ?? new P3Error(ErrorCode.Internal, 'IndexedDB request failed'));
  });
}
