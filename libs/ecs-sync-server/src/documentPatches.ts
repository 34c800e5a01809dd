import type { Patch } from '@p3/protocol';
import type { FieldStore } from '@p3/engine';

/** The patches that hold at least one key: empty patches change nothing and are never broadcast. */
export function nonEmptyPatches(patches: readonly Patch[] | undefined): Patch[] {
  if (patches === undefined) return [];
  return patches.filter((patch) => Object.keys(patch).length > 0);
}

/**
 * Applies the document patches of one message at one new timestamp (the room's version + 1), in arrival
 * order, per field last-write-wins (`FieldStore.write`): `{_exists: false}` deletes a key, a write to a key
 * that does not exist creates it with `_exists: true`. Returns the timestamp, unchanged when nothing applied.
 */
export function applyDocumentPatches(store: FieldStore, patches: readonly Patch[]): number {
  if (patches.length === 0) return store.version;
  return applyDocumentPatchesAt(store, patches, store.version + 1);
}

/**
 * Applies the document patches of one message at a given timestamp, exactly as `applyDocumentPatches` did when
 * it was first applied: the replay of a logged change ([LOG-2]). The store's version becomes `timestamp`.
 */
export function applyDocumentPatchesAt(
  store: FieldStore,
  patches: readonly Patch[],
  timestamp: number,
): number {
  for (const patch of patches) {
    for (const [key, data] of Object.entries(patch)) store.write(key, data, timestamp);
  }
  // A logged change always wrote something; this only keeps the version exact for one that did not.
  if (store.version < timestamp) store.applyChanges([], timestamp);
  return timestamp;
}
