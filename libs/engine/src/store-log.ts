import type { FieldValue } from '@p3/protocol';
import type { StoreSnapshot } from './field-store.js';

/** What a StoreLogChange says of its key (its second element). */
export const StoreLogKind = {
  /** `[key, Fields, field, value, ...]`: fields written at the take's version; the others are unchanged. */
  Fields: 0,
  /** `[key, FieldsAt, field, value, version, ...]`: fields written at these versions; the others are unchanged. */
  FieldsAt: 1,
  /** `[key, Entry, clearedAt, field, value, version, ...]`: the key's whole entry (created, deleted or rewound). */
  Entry: 2,
  /** `[key, Gone]`: the key left the store (its creation was rolled back, or its tombstone pruned). */
  Gone: 3,
} as const;
export type StoreLogKind = (typeof StoreLogKind)[keyof typeof StoreLogKind];

/**
 * What changed in one key between two `FieldStore.takeLogChanges` calls, as one flat tuple (see StoreLogKind): a
 * room appends such changes to its log up to 30 times a second, so they allocate one array each and encode short.
 */
export type StoreLogChange = readonly [key: string, kind: StoreLogKind, ...rest: FieldValue[]];

/** The changes of one take and the version `Fields` changes of it were written at. */
export interface StoreLogBatch {
  readonly version: number;
  readonly changes: readonly StoreLogChange[];
}

type MutableEntry = {
  fields: Record<string, FieldValue>;
  versions: Record<string, number>;
  clearedAt?: number;
};

/**
 * Recovery: the store state the batches lead to from `snapshot` (a store snapshot taken where the first batch's
 * take began), applied in order, with prune horizon `horizon` at the end. Pure: the snapshot is not modified.
 */
export function applyStoreLogChanges(
  snapshot: StoreSnapshot,
  batches: readonly StoreLogBatch[],
  horizon: number,
): StoreSnapshot {
  const entries = new Map<string, MutableEntry>();
  for (const [key, entry] of Object.entries(snapshot.entries)) entries.set(key, entry as MutableEntry);
  const copied = new Set<string>();
  let version = snapshot.version;
  for (const batch of batches) {
    version = Math.max(version, batch.version);
    for (const change of batch.changes) {
      const [key, kind] = change;
      if (kind === StoreLogKind.Gone) {
        entries.delete(key);
        continue;
      }
      let entry: MutableEntry;
      if (kind === StoreLogKind.Entry) {
        const clearedAt = change[2] as number;
        entry = {
          fields: copy(undefined),
          versions: copy(undefined),
          ...(clearedAt > 0 ? { clearedAt } : {}),
        };
        entries.set(key, entry);
        copied.add(key);
      } else {
        const known = entries.get(key);
        if (known !== undefined && copied.has(key)) entry = known;
        else {
          entry = {
            fields: copy(known?.fields),
            versions: copy(known?.versions),
            ...(known?.clearedAt === undefined ? {} : { clearedAt: known.clearedAt }),
          };
          entries.set(key, entry);
          copied.add(key);
        }
      }
      // Prototype-less targets: a field named `__proto__` stays plain data.
      if (kind === StoreLogKind.Fields) {
        for (let i = 2; i + 1 < change.length; i += 2) {
          const field = change[i] as string;
          entry.fields[field] = change[i + 1]!;
          entry.versions[field] = batch.version;
        }
      } else {
        for (let i = kind === StoreLogKind.Entry ? 3 : 2; i + 2 < change.length; i += 3) {
          const field = change[i] as string;
          entry.fields[field] = change[i + 1]!;
          entry.versions[field] = change[i + 2] as number;
        }
      }
    }
  }
  const out = Object.create(null) as Record<string, MutableEntry>;
  for (const [key, entry] of entries) out[key] = entry;
  return { version, horizon: Math.max(snapshot.horizon, horizon), entries: out };
}

/** A prototype-less copy (keys from the wire, even `__proto__`, stay plain data when assigned to later). */
function copy<T>(source: Readonly<Record<string, T>> | undefined): Record<string, T> {
  const out = Object.create(null) as Record<string, T>;
  if (source !== undefined) for (const key of Object.keys(source)) out[key] = source[key]!;
  return out;
}
