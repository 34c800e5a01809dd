import { isForbiddenKey, isJsonValue, isPlainObject, type ComponentData } from '@p3/protocol';
import { EXISTS, type StoreSnapshot } from '@p3/engine';
import type { RoomSnapshot } from './types.js';

type StoreEntry = StoreSnapshot['entries'][string];

/** The seed's snapshot shape from a field-store snapshot (`timestamp` is the store version). */
export function toRoomSnapshot(store: StoreSnapshot): RoomSnapshot {
  const state: [string, ComponentData][] = [];
  const timestamps: [string, Record<string, number>][] = [];
  const clearedAt: [string, number][] = [];
  for (const [key, entry] of Object.entries(store.entries)) {
    state.push([key, { ...entry.fields }]);
    timestamps.push([key, { ...entry.versions }]);
    // A tombstone's deletion version is its `_exists` version and a live key's default is 0: only a
    // re-created key carries information the seed shape has no room for.
    if (entry.clearedAt !== undefined && entry.clearedAt !== impliedClearedAt(entry))
      clearedAt.push([key, entry.clearedAt]);
  }
  // fromEntries defines own properties: a key can never reach a prototype, whatever it is called.
  return {
    timestamp: store.version,
    state: Object.fromEntries(state),
    timestamps: Object.fromEntries(timestamps),
    ...(clearedAt.length > 0 ? { clearedAt: Object.fromEntries(clearedAt) } : {}),
    ...(store.horizon > 0 ? { horizon: store.horizon } : {}),
  };
}

/** A field-store snapshot from the seed's shape. Missing field timestamps default to the snapshot timestamp. */
export function toStoreSnapshot(snapshot: RoomSnapshot): StoreSnapshot {
  let version = snapshot.timestamp;
  const entries: [string, StoreEntry][] = [];
  for (const [key, fields] of Object.entries(snapshot.state)) {
    const known = ownValue(snapshot.timestamps, key) ?? {};
    // Every field gets an own version entry: the store reads versions by plain lookup.
    const versions = Object.fromEntries(
      Object.keys(fields).map((field) => [field, ownValue(known, field) ?? snapshot.timestamp]),
    );
    for (const v of Object.values(versions)) version = Math.max(version, v);
    const cleared = snapshot.clearedAt === undefined ? undefined : ownValue(snapshot.clearedAt, key);
    entries.push([
      key,
      cleared === undefined ? { fields, versions } : { fields, versions, clearedAt: cleared },
    ]);
  }
  return { version, horizon: snapshot.horizon ?? 0, entries: Object.fromEntries(entries) };
}

/**
 * Checks a snapshot read from storage or handed in by code and returns it typed. Throws a TypeError naming
 * the first problem: a room must not start from a document it cannot trust.
 */
export function parseRoomSnapshot(value: unknown): RoomSnapshot {
  if (!isPlainObject(value)) bad('snapshot must be an object');
  const timestamp = version(value.timestamp, 'timestamp');
  const stateIn = record(value.state, 'state');
  const timestampsIn = value.timestamps === undefined ? {} : record(value.timestamps, 'timestamps');
  const state: [string, ComponentData][] = [];
  for (const [key, data] of Object.entries(stateIn)) {
    checkKey(key, 'state');
    const fields = record(data, `state["${key.slice(0, 64)}"]`);
    for (const field of Object.keys(fields)) checkKey(field, `state["${key.slice(0, 64)}"]`);
    if (fields[EXISTS] !== undefined && typeof fields[EXISTS] !== 'boolean')
      bad(`state["${key.slice(0, 64)}"]._exists must be a boolean`);
    if (!isJsonValue(fields)) bad(`state["${key.slice(0, 64)}"] must be JSON data`);
    state.push([key, fields]);
  }
  const timestamps: [string, Record<string, number>][] = [];
  for (const [key, versions] of Object.entries(timestampsIn)) {
    checkKey(key, 'timestamps');
    const fields = record(versions, `timestamps["${key.slice(0, 64)}"]`);
    timestamps.push([
      key,
      Object.fromEntries(
        Object.entries(fields).map(([f, v]) => [checkKey(f, 'timestamps'), version(v, `timestamps.${f}`)]),
      ),
    ]);
  }
  let clearedAt: Record<string, number> | undefined;
  if (value.clearedAt !== undefined) {
    const cleared = record(value.clearedAt, 'clearedAt');
    clearedAt = Object.fromEntries(
      Object.entries(cleared).map(([k, v]) => [checkKey(k, 'clearedAt'), version(v, `clearedAt.${k}`)]),
    );
  }
  const horizon = value.horizon === undefined ? undefined : version(value.horizon, 'horizon');
  return {
    timestamp,
    state: Object.fromEntries(state),
    timestamps: Object.fromEntries(timestamps),
    ...(clearedAt === undefined ? {} : { clearedAt }),
    ...(horizon === undefined || horizon === 0 ? {} : { horizon }),
  };
}

function impliedClearedAt(entry: StoreEntry): number {
  return entry.fields[EXISTS] === false ? (entry.versions[EXISTS] ?? 0) : 0;
}

function ownValue<T>(source: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(source, key) ? source[key] : undefined;
}

function record(value: unknown, what: string): Record<string, unknown> {
  if (!isPlainObject(value)) bad(`${what} must be an object`);
  return value;
}

function version(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)
    bad(`${what} must be an integer >= 0`);
  return value;
}

function checkKey(key: string, what: string): string {
  if (isForbiddenKey(key)) bad(`forbidden key "${key}" in ${what}`);
  return key;
}

function bad(message: string): never {
  throw new TypeError(`invalid room snapshot: ${message}`);
}
