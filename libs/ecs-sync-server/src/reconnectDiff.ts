import type { ComponentData, Patch } from '@p3/protocol';
import { EXISTS, type FieldStore } from '@p3/engine';

const deleted: ComponentData = Object.freeze({ [EXISTS]: false });

/**
 * The document part of a reconnect reply: what a client holding the state of timestamp `since` needs.
 *
 * - Per changed key, the changed fields' values; `{_exists: false}` for a key deleted since.
 * - A key deleted and re-created since: `{_exists: false}` in a first patch, its fields in a second one, so the
 *   client drops the fields the key had before the deletion.
 * - `since` beyond the room timestamp (a client of another room lifetime) or older than pruned tombstones: the
 *   full state, i.e. every known tombstone then every live key with all its fields. Keys the client holds that
 *   this room never knew cannot be deleted: the server cannot know them.
 *
 * Returns zero, one or two patches (deletions first); empty patches are left out.
 */
export function buildReconnectDiff(store: FieldStore, since: number): Patch[] {
  const delta = since > store.version ? undefined : store.changesSince(since);
  if (delta === undefined || !delta.complete) return fullState(store);
  const deletions = new Map<string, ComponentData>();
  const updates = new Map<string, ComponentData>();
  for (const change of delta.changes) {
    if (change.fields[EXISTS] === false) {
      deletions.set(change.key, deleted);
      continue;
    }
    if (change.cleared) deletions.set(change.key, deleted);
    if (Object.keys(change.fields).length > 0) updates.set(change.key, { ...change.fields });
  }
  return patchesOf(deletions, updates);
}

function fullState(store: FieldStore): Patch[] {
  const deletions = new Map<string, ComponentData>();
  const updates = new Map<string, ComponentData>();
  for (const key of store.keys()) {
    if (!store.exists(key)) {
      deletions.set(key, deleted);
      continue;
    }
    const fields = store.fields(key);
    if (fields !== undefined)
      updates.set(key, Object.fromEntries([...fields].map(([field, cell]) => [field, cell.value])));
  }
  return patchesOf(deletions, updates);
}

function patchesOf(...parts: Map<string, ComponentData>[]): Patch[] {
  return parts.filter((part) => part.size > 0).map((part) => Object.fromEntries(part));
}
