import { FieldStore } from '@p3/engine';
import { applyDocumentPatchesAt, nonEmptyPatches } from './documentPatches.js';
import { FilledIn, parseRoomSnapshot, toStoreSnapshot } from './roomSnapshot.js';
import type { ChangeLog, LoggedChange } from './storage/ChangeLog.js';
import type { SyncStorage } from './storage/SyncStorage.js';

/**
 * A room's document as it was last made durable ([LOG-2]): the storage snapshot, then every change the log holds
 * after it, replayed in order at its logged timestamp, so the store (versions included) is exactly the one the
 * room had after those changes and the room continues after the highest durable version. Undefined when neither
 * holds anything (a new room). `filledIn`: what the stored snapshot's shape left out ([SNAP-2]).
 */
export async function loadDocument(
  storage: SyncStorage,
  log: ChangeLog | undefined,
): Promise<{ store: FieldStore; filledIn: FilledIn | undefined } | undefined> {
  const snapshot = await storage.load();
  let store = new FieldStore();
  let filledIn: FilledIn | undefined;
  if (snapshot !== null) {
    const parsed = parseRoomSnapshot(snapshot);
    filledIn = new FilledIn(parsed.timestamp);
    store = FieldStore.fromSnapshot(toStoreSnapshot(parsed, filledIn));
  }
  const changes = log === undefined ? [] : await log.read(store.version);
  if (snapshot === null && changes.length === 0) return undefined;
  replayChanges(store, changes);
  return { store, filledIn };
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
