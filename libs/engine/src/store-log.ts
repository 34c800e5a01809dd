import type { FieldValue } from '@p3/protocol';
import type { StoreSnapshot } from './field-store.js';

/** What changed in one key between two `FieldStore.takeLogChanges` calls. */
export type StoreLogChange =
  /** These fields were written at these versions; the key's other fields are unchanged. */
  | {
      readonly key: string;
      readonly kind: 'fields';
      readonly fields: Readonly<Record<string, FieldValue>>;
      readonly versions: Readonly<Record<string, number>>;
    }
  /** The key's whole entry now (created, deleted or rolled back since the previous take). */
  | {
      readonly key: string;
      readonly kind: 'entry';
      readonly fields: Readonly<Record<string, FieldValue>>;
      readonly versions: Readonly<Record<string, number>>;
      readonly clearedAt: number;
    }
  /** The key left the store (its creation was rolled back, or its tombstone pruned). */
  | { readonly key: string; readonly kind: 'gone' };

type MutableEntry = {
  fields: Record<string, FieldValue>;
  versions: Record<string, number>;
  clearedAt?: number;
};

/**
 * Recovery: the store state `changes` lead to from `snapshot` (a store snapshot taken where the changes' take
 * began), at `version` and prune horizon `horizon`. Pure: the snapshot is not modified.
 */
export function applyStoreLogChanges(
  snapshot: StoreSnapshot,
  changes: readonly StoreLogChange[],
  version: number,
  horizon: number,
): StoreSnapshot {
  const entries = new Map<string, MutableEntry>();
  for (const [key, entry] of Object.entries(snapshot.entries)) entries.set(key, entry as MutableEntry);
  const copied = new Set<string>();
  for (const change of changes) {
    if (change.kind === 'gone') {
      entries.delete(change.key);
      continue;
    }
    if (change.kind === 'entry') {
      entries.set(change.key, {
        fields: copy(change.fields),
        versions: copy(change.versions),
        ...(change.clearedAt > 0 ? { clearedAt: change.clearedAt } : {}),
      });
      copied.add(change.key);
      continue;
    }
    let entry = entries.get(change.key);
    if (entry === undefined || !copied.has(change.key)) {
      entry = {
        fields: copy(entry?.fields),
        versions: copy(entry?.versions),
        ...(entry?.clearedAt === undefined ? {} : { clearedAt: entry.clearedAt }),
      };
      entries.set(change.key, entry);
      copied.add(change.key);
    }
    // Prototype-less targets: a field named `__proto__` stays plain data.
    Object.assign(entry.fields, change.fields);
    Object.assign(entry.versions, change.versions);
  }
  const out = Object.create(null) as Record<string, MutableEntry>;
  for (const [key, entry] of entries) out[key] = entry;
  return {
    version: Math.max(snapshot.version, version),
    horizon: Math.max(snapshot.horizon, horizon),
    entries: out,
  };
}

/** A prototype-less copy (keys from the wire, even `__proto__`, stay plain data when assigned to later). */
function copy<T>(source: Readonly<Record<string, T>> | undefined): Record<string, T> {
  const out = Object.create(null) as Record<string, T>;
  if (source !== undefined) for (const key of Object.keys(source)) out[key] = source[key]!;
  return out;
}
