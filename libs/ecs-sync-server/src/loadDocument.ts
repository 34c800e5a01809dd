import { FieldStore } from '@p3/engine';
import { applyDocumentPatchesAt, nonEmptyPatches } from './documentPatches.js';
import { parseRoomSnapshot, toStoreSnapshot } from './roomSnapshot.js';
import type { ChangeLog, LoggedChange } from './storage/ChangeLog.js';
import type { SyncStorage } from './storage/SyncStorage.js';

/**
 * A room's document as it was last made durable ([LOG-2]): the storage snapshot, then every change the log holds
 * after it, replayed in order at its logged timestamp, so the store (versions included) is exactly the one the
 * room had after those changes and the room continues after the highest durable version. Undefined when neither
 * holds anything (a new room).
 */
export async function loadDocument(
  storage: SyncStorage,
  log: ChangeLog | undefined,
): Promise<FieldStore | undefined> {
  const snapshot = await storage.load();
  const store =
    snapshot === null
      ? new FieldStore()
      : FieldStore.fromSnapshot(toStoreSnapshot(parseRoomSnapshot(snapshot)));
  const changes = log === undefined ? [] : await log.read(store.version);
  if (snapshot === null && changes.length === 0) return undefined;
  replayChanges(store, changes);
  return store;
}

/** Replays logged changes (oldest first) at their timestamps. Throws on a log that is not in timestamp order. */
export function replayChanges(store: FieldStore, changes: readonly LoggedChange[]): void {
  for (const change of changes) {
    if (!Number.isSafeInteger(change.timestamp) || change.timestamp <= store.version) {
      throw new RangeError(
        `change log out of order: timestamp ${change.timestamp} after version ${store.version}`,
      );
    }
    applyDocumentPatchesAt(store, nonEmptyPatches(change.documentPatches), change.timestamp);
  }
}
