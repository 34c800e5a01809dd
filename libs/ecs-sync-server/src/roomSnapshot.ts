import { isForbiddenKey, isJsonValue, isPlainObject, type ComponentData } from '@p3/protocol';
import { EXISTS, type StoreSnapshot } from '@p3/engine';
import type { RoomSnapshot } from './types.js';

type StoreEntry = StoreSnapshot['entries'][string];

/**
 * What `toStoreSnapshot` had to fill in for a snapshot in the seed's (or the upstream server's) shape, so that
 * `toRoomSnapshot` can leave it out again ([SNAP-2]: a loaded snapshot reads back as it was stored):
 * - `_exists: true` of a key stored without `_exists` (and its version: the newest of the key's fields), left out
 *   while the key is untouched (no cell newer than that version): a later write makes the key's shape the room's;
 * - field timestamps the snapshot did not have (taken as its timestamp), left out while the room is still at that
 *   timestamp: once it moved on, a reload would take the new timestamp, so they are written out.
 */
export class FilledIn {
  /** key -> the version of the `_exists: true` filled in. */
  readonly exists = new Map<string, number>();
  /** key -> fields whose version was filled in (the snapshot's timestamp). */
  readonly versions = new Map<string, Set<string>>();
  /** Keys the snapshot had no `timestamps` entry for at all. */
  readonly withoutTimestamps = new Set<string>();

  constructor(
    /** The loaded snapshot's timestamp: the version every filled-in field version has. */
    readonly timestamp: number,
  ) {}

  get empty(): boolean {
    return this.exists.size === 0 && this.versions.size === 0;
  }
}

/**
 * The seed's snapshot shape from a field-store snapshot (`timestamp` is the store version). With `filledIn` (from
 * `toStoreSnapshot`), what the loaded snapshot did not hold is left out again while unchanged ([SNAP-2]).
 */
export function toRoomSnapshot(store: StoreSnapshot, filledIn?: FilledIn): RoomSnapshot {
  const state: [string, ComponentData][] = [];
  const timestamps: [string, Record<string, number>][] = [];
  const clearedAt: [string, number][] = [];
  const filled = filledIn === undefined || filledIn.empty ? undefined : filledIn;
  for (const [key, entry] of Object.entries(store.entries)) {
    if (filled === undefined) {
      state.push([key, { ...entry.fields }]);
      timestamps.push([key, { ...entry.versions }]);
    } else {
      const shaped = asLoaded(key, entry, filled, store.version);
      state.push([key, shaped.fields]);
      if (shaped.versions !== undefined) timestamps.push([key, shaped.versions]);
    }
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

/**
 * A field-store snapshot from the seed's shape. Missing field timestamps default to the snapshot timestamp; a key
 * without `_exists` exists, at the version of its newest field. What was filled in is recorded in `filledIn`.
 */
export function toStoreSnapshot(snapshot: RoomSnapshot, filledIn?: FilledIn): StoreSnapshot {
  let version = snapshot.timestamp;
  const entries: [string, StoreEntry][] = [];
  for (const [key, stored] of Object.entries(snapshot.state)) {
    const own = ownValue(snapshot.timestamps, key);
    const known = own ?? {};
    if (own === undefined) filledIn?.withoutTimestamps.add(key);
    // Every field gets an own version entry: the store reads versions by plain lookup.
    const versions = Object.fromEntries(
      Object.keys(stored).map((field) => {
        const v = ownValue(known, field);
        if (v === undefined) addTo(filledIn?.versions, key, field);
        return [field, v ?? snapshot.timestamp];
      }),
    );
    let fields = stored;
    if (!Object.hasOwn(stored, EXISTS)) {
      // Foreign snapshots (the upstream server) leave `_exists` out of live keys.
      const existsAt = Math.max(0, ...Object.values(versions));
      fields = { ...stored, [EXISTS]: true };
      versions[EXISTS] = existsAt;
      filledIn?.exists.set(key, existsAt);
    }
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

/** A key's fields and versions with what `filled` holds for it left out while unchanged (see FilledIn). */
function asLoaded(
  key: string,
  entry: StoreEntry,
  filled: FilledIn,
  version: number,
): { fields: ComponentData; versions: Record<string, number> | undefined } {
  const existsAt = filled.exists.get(key);
  const untouched =
    existsAt !== undefined &&
    entry.fields[EXISTS] === true &&
    entry.versions[EXISTS] === existsAt &&
    Object.values(entry.versions).every((v) => v <= existsAt);
  const fieldsFilled = version === filled.timestamp ? filled.versions.get(key) : undefined;
  const fields = Object.fromEntries(
    Object.entries(entry.fields).filter(([field]) => !(untouched && field === EXISTS)),
  );
  const versions = Object.fromEntries(
    Object.entries(entry.versions).filter(
      ([field, v]) =>
        !(untouched && field === EXISTS) && !(fieldsFilled?.has(field) === true && v === filled.timestamp),
    ),
  );
  const omit = filled.withoutTimestamps.has(key) && Object.keys(versions).length === 0;
  return { fields, versions: omit ? undefined : versions };
}

function addTo(map: Map<string, Set<string>> | undefined, key: string, field: string): void {
  if (map === undefined) return;
  const set = map.get(key);
  if (set === undefined) map.set(key, new Set([field]));
  else set.add(field);
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
