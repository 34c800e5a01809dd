import type { FieldValue } from '@p3/protocol';
import { StoreLogKind, type StoreLogChange } from './store-log.js';
import { UndoKind, type RevertStep, type UndoLog } from './undo-log.js';

/** The existence marker of a key. `false` is a tombstone; a write without it implies `true` (seed 003). */
export const EXISTS = '_exists';

/** One field's value and the version that wrote it. Read it at once: the store updates cells in place. */
export interface Cell {
  readonly value: FieldValue;
  readonly version: number;
}

interface MutableCell {
  value: FieldValue;
  version: number;
}

interface Entry {
  readonly key: string;
  readonly fields: Map<string, MutableCell>;
  /** Mirror of the `_exists` cell (the hottest read of the tick). */
  exists: boolean;
  /** False once the entry left the store (rollback of its creation, pruning): holders must look it up again. */
  alive: boolean;
  /** Recording session that last touched the entry, with what it touched (dirty tracking without per-tick maps). */
  session: number;
  existedAtSessionStart: boolean;
  /**
   * Fields the session touched: the first `touchedCount` slots (the array is reused across sessions, because
   * `length = 0` drops its backing store and the next push allocates a new one, per entity and tick).
   */
  readonly touched: string[];
  touchedCount: number;
  /** Highest version of a deletion of this key: fields written at or before it are gone. */
  clearedAt: number;
  /** Highest version of any cell of this key (cheap skip in changesSince). */
  maxVersion: number;
  /** What the store's user derived from this key once and for all (the world: its entity type). */
  memo: unknown;
  /** Listed for the next `takeLogChanges` (see `trackLog`). */
  logDirty: boolean;
  /** The next log change of this key carries the whole entry (created since the last take). */
  logWhole: boolean;
}

/** Everything about one key that changed after a version. */
export interface StoreChange {
  readonly key: string;
  /** The key was deleted after the version: drop every field held for it before applying `fields`. */
  readonly cleared: boolean;
  /** Version of that deletion (present when `cleared`). */
  readonly clearedAt?: number;
  readonly fields: Readonly<Record<string, FieldValue>>;
  readonly versions: Readonly<Record<string, number>>;
}

export type ChangesSince =
  | { readonly complete: true; readonly version: number; readonly changes: readonly StoreChange[] }
  /** Tombstones older than `horizon` were pruned: the caller must send a full state instead. */
  | { readonly complete: false; readonly version: number; readonly horizon: number };

/** Serializable store state. Field order inside a key is kept. */
export interface StoreSnapshot {
  readonly version: number;
  readonly horizon: number;
  readonly entries: Readonly<
    Record<
      string,
      {
        readonly fields: Readonly<Record<string, FieldValue>>;
        readonly versions: Readonly<Record<string, number>>;
        readonly clearedAt?: number;
      }
    >
  >;
}

/** An entry handle for hot paths (`EntityHandle`): valid while `alive`. */
export interface EntryRef {
  readonly key: string;
  readonly alive: boolean;
  /** The key exists now (not a tombstone). */
  readonly exists: boolean;
}

/** What one recording session (one tick) changed on one key (a live view: read it right after the session). */
export interface DirtyKey {
  readonly key: string;
  readonly fields: ReadonlyMap<string, Cell>;
  /** The fields the session touched are the first `touchedCount` of `touched` (slots after them are stale). */
  readonly touched: readonly string[];
  readonly touchedCount: number;
  readonly existedAtSessionStart: boolean;
  readonly exists: boolean;
}

/**
 * Keys (entities, ecs-sync components) of fields with per-field versions.
 *
 * Two ways to apply a change, each convergent in its own domain:
 * - `write` (authoritative, arrival order): a room applies changes in the order it sequenced them; the last
 *   write wins even at an equal version (several patches of one ecs-sync message share a version).
 * - `merge` (last-writer-wins by version): the result depends only on the set of merged changes, not their
 *   order; equal versions are broken by comparing the values' JSON text. Deletion `{_exists:false}` at d hides
 *   every field written at or before d; a non-deleting change asserts `_exists: true` at its version.
 * A store should be driven by one of the two.
 */
export class FieldStore {
  private readonly entries = new Map<string, Entry>();
  private currentVersion = 0;
  private prunedBefore = 0;
  private undo: UndoLog | undefined;
  private session = 0;
  private readonly dirty: Entry[] = [];
  /** Entries changed since the last `takeLogChanges`; undefined while nobody logs the store. */
  private logDirty: Entry[] | undefined;
  /** A rollback ran since the last take: values and versions went back, so changed keys are logged whole. */
  private logRewound = false;
  /** Store version at the last take: a key's fields written after it are what changed. */
  private logSince = 0;

  /** Highest version applied. */
  get version(): number {
    return this.currentVersion;
  }

  /** `changesSince(v)` for v below this needs a full state: tombstones before it were pruned. */
  get horizon(): number {
    return this.prunedBefore;
  }

  get size(): number {
    return this.entries.size;
  }

  exists(key: string): boolean {
    return this.entries.get(key)?.exists === true;
  }

  /** True for any key the store holds, including tombstones (an id is never reused). */
  knows(key: string): boolean {
    return this.entries.has(key);
  }

  get(key: string, field: string): FieldValue | undefined {
    return this.entries.get(key)?.fields.get(field)?.value;
  }

  cell(key: string, field: string): Cell | undefined {
    return this.entries.get(key)?.fields.get(field);
  }

  /** Fields of an existing key (including `_exists`), in write order; undefined for unknown keys. */
  fields(key: string): ReadonlyMap<string, Cell> | undefined {
    return this.entries.get(key)?.fields;
  }

  keys(): IterableIterator<string> {
    return this.entries.keys();
  }

  /** Highest version of any field of a key (0 when unknown). */
  lastModified(key: string): number {
    return this.entries.get(key)?.maxVersion ?? 0;
  }

  // ------------------------------------------------------------------------------------------------------------
  // Undo recording (the engine's frame buffer rewinds with it)

  /** Clears `log` and records every mutation into it until `stopRecording()`. */
  record(log: UndoLog): void {
    log.clear();
    this.undo = log;
    this.session++;
    this.dirty.length = 0;
    log.pushStore(this.currentVersion);
  }

  stopRecording(): void {
    this.undo = undefined;
  }

  /** Keys the last recording session changed, in the order it first touched them (read before any rollback). */
  dirtyKeys(): readonly DirtyKey[] {
    return this.dirty;
  }

  /** A reference to a key's entry, for repeated access without lookups; undefined for unknown keys. */
  ref(key: string): EntryRef | undefined {
    return this.entries.get(key);
  }

  /** Reads through a reference (re-resolve it with `ref` once it is no longer `alive`). */
  getAt(ref: EntryRef, field: string): FieldValue | undefined {
    return (ref as Entry).fields.get(field)?.value;
  }

  /**
   * A value the caller derived from a key and keeps with it, for keys whose derivation never changes (a key is never
   * reused: a deleted key stays a tombstone, and a key whose creation is rolled back leaves the store with its memo).
   */
  memoAt(ref: EntryRef): unknown {
    return (ref as Entry).memo;
  }

  setMemo(ref: EntryRef, memo: unknown): void {
    (ref as Entry).memo = memo;
  }

  /**
   * Writes one field of a key that exists now, through a reference (never revives a deleted key); skips the write
   * when the value is the same primitive.
   */
  writeAt(ref: EntryRef, field: string, value: FieldValue, version: number): boolean {
    const entry = ref as Entry;
    if (!entry.alive || !entry.exists) return false;
    const cell = entry.fields.get(field);
    if (cell !== undefined && cell.value === value) return false;
    this.setCell(entry.key, this.touch(entry.key, version, entry), field, value, version, cell);
    return true;
  }

  /**
   * Adds an arbitrary revert step to the current recording (used for indexes kept beside the store): on rollback,
   * `revert(target, n)` runs. A shared function and its arguments instead of a closure: nothing is allocated.
   */
  recordRevert<T>(revert: RevertStep<T>, target: T, n = 0): void {
    this.undo?.pushRevert(revert, target, n);
  }

  /** Reverts a recorded log (newest step first). The log stays as it is (clear it to reuse it). */
  rollback(log: UndoLog): void {
    if (this.logDirty !== undefined) this.markRolledBack(log);
    for (let i = log.length - 1; i >= 0; i--) {
      switch (log.kind(i)) {
        case UndoKind.CellAbsent: {
          const target = this.entries.get(log.key(i));
          if (!target) break;
          const field = log.field(i);
          target.fields.delete(field);
          if (field === EXISTS) target.exists = false;
          break;
        }
        case UndoKind.CellNumber:
        case UndoKind.CellValue: {
          const target = this.entries.get(log.key(i));
          if (!target) break;
          const field = log.field(i);
          const value = log.value(i);
          const version = log.num2(i);
          const cell = target.fields.get(field);
          if (cell) {
            cell.value = value;
            cell.version = version;
          } else target.fields.set(field, { value, version });
          if (field === EXISTS) target.exists = value === true;
          break;
        }
        case UndoKind.EntryAbsent: {
          const key = log.key(i);
          const gone = this.entries.get(key);
          if (gone) gone.alive = false;
          this.entries.delete(key);
          break;
        }
        case UndoKind.EntryBounds: {
          const e = this.entries.get(log.key(i));
          if (e) {
            e.clearedAt = log.num(i);
            e.maxVersion = log.num2(i);
          }
          break;
        }
        case UndoKind.Store:
          this.currentVersion = log.num(i);
          break;
        case UndoKind.Revert:
          log.revert(i);
          break;
      }
    }
  }

  /** Before a rollback: every key it restores goes to the log whole (values and versions go back). */
  private markRolledBack(log: UndoLog): void {
    this.logRewound = true;
    for (let i = 0; i < log.length; i++) {
      const kind = log.kind(i);
      if (kind === UndoKind.Store || kind === UndoKind.Revert) continue;
      const entry = this.entries.get(log.key(i));
      if (entry !== undefined && !entry.logDirty) this.markLog(entry);
    }
  }

  // ------------------------------------------------------------------------------------------------------------
  // Change log (what a durable room log records after each step)

  /**
   * Starts recording which keys change, for `takeLogChanges`. Off by default: a store nobody logs pays nothing
   * for it. Call it on a store at rest (between ticks).
   */
  trackLog(): void {
    this.logDirty ??= [];
    this.logSince = this.currentVersion;
  }

  /**
   * What changed since the last call (or `trackLog`), in the order keys were first changed: applied with
   * `applyStoreLogChanges` (as a batch of version `at`) to the store's state at the last call, it gives the state
   * now (versions, tombstones and the prune horizon included). A key written normally lists only the fields written
   * since (`Fields` when all were written at `at`, else `FieldsAt` with their versions); a key created, deleted or
   * rolled back since is listed whole (`Entry`), and a key that left the store as `Gone`.
   */
  takeLogChanges(at: number): StoreLogChange[] {
    const list = this.logDirty;
    if (list === undefined || list.length === 0) return [];
    this.logDirty = [];
    const since = this.logSince;
    const rewound = this.logRewound;
    this.logSince = this.currentVersion;
    this.logRewound = false;
    const out: StoreLogChange[] = [];
    for (const entry of list) {
      entry.logDirty = false;
      const whole = entry.logWhole || rewound || entry.clearedAt > since;
      entry.logWhole = false;
      const live = this.entries.get(entry.key);
      if (live !== entry) {
        // A replacement entry of the same key is listed on its own (its creation marked it).
        if (live === undefined) out.push([entry.key, StoreLogKind.Gone]);
        continue;
      }
      if (whole) {
        const change: [string, StoreLogKind, ...FieldValue[]] = [
          entry.key,
          StoreLogKind.Entry,
          entry.clearedAt,
        ];
        for (const [field, cell] of entry.fields) change.push(field, cell.value, cell.version);
        out.push(change);
        continue;
      }
      let allAt = true;
      let any = false;
      for (const cell of entry.fields.values()) {
        if (cell.version <= since) continue;
        any = true;
        if (cell.version !== at) allAt = false;
      }
      if (!any) continue;
      const change: [string, StoreLogKind, ...FieldValue[]] = [
        entry.key,
        allAt ? StoreLogKind.Fields : StoreLogKind.FieldsAt,
      ];
      for (const [field, cell] of entry.fields) {
        if (cell.version <= since) continue;
        if (allAt) change.push(field, cell.value);
        else change.push(field, cell.value, cell.version);
      }
      out.push(change);
    }
    return out;
  }

  // ------------------------------------------------------------------------------------------------------------
  // Authoritative writes

  /** Applies a change in arrival order (see class doc). `{_exists: false}` deletes the key. */
  write(key: string, fields: Readonly<Record<string, FieldValue>>, version: number): void {
    if (fields[EXISTS] === false) {
      this.delete(key, version);
      return;
    }
    const entry = this.touch(key, version);
    if (!entry.exists) this.setCell(key, entry, EXISTS, true, version);
    for (const field of Object.keys(fields)) {
      if (field === EXISTS) continue;
      this.setCell(key, entry, field, fields[field]!, version);
    }
  }

  /**
   * Writes one field of a key (the tick hot path). Skips the write when the value is the same primitive,
   * so idle entities produce no changes. Creates the key (with `_exists: true`) when needed.
   */
  writeField(key: string, field: string, value: FieldValue, version: number): boolean {
    const entry = this.entries.get(key);
    if (entry !== undefined && entry.exists && entry.fields.get(field)?.value === value) return false;
    const target = this.touch(key, version, entry);
    if (!target.exists) this.setCell(key, target, EXISTS, true, version);
    this.setCell(key, target, field, value, version);
    return true;
  }

  /** Deletes a key: every field goes, a `_exists: false` tombstone stays (pruned later). */
  delete(key: string, version: number): void {
    const entry = this.touch(key, version);
    for (const [field, cell] of entry.fields) {
      if (field === EXISTS) continue;
      this.undo?.pushCell(key, field, cell.value, cell.version);
      entry.fields.delete(field);
    }
    entry.clearedAt = Math.max(entry.clearedAt, version);
    this.setCell(key, entry, EXISTS, false, version);
  }

  // ------------------------------------------------------------------------------------------------------------
  // Order-independent merge

  /** Merges a versioned change by last-writer-wins; returns true when anything changed. */
  merge(key: string, fields: Readonly<Record<string, FieldValue>>, version: number): boolean {
    const deleting = fields[EXISTS] === false;
    const existing = this.entries.get(key);
    if (existing !== undefined && !deleting && version <= existing.clearedAt) {
      // Dominated by a later deletion; only the existence flag could still matter, and it loses too.
      return false;
    }
    const entry = this.touch(key, version);
    let changed = this.mergeCell(key, entry, EXISTS, !deleting, version);
    if (deleting) {
      if (version > entry.clearedAt) {
        entry.clearedAt = version;
        for (const [field, cell] of entry.fields) {
          if (field === EXISTS || cell.version > version) continue;
          this.undo?.pushCell(key, field, cell.value, cell.version);
          entry.fields.delete(field);
          changed = true;
        }
      }
      return changed;
    }
    for (const field of Object.keys(fields)) {
      if (field === EXISTS) continue;
      if (this.mergeCell(key, entry, field, fields[field]!, version)) changed = true;
    }
    return changed;
  }

  private mergeCell(key: string, entry: Entry, field: string, value: FieldValue, version: number): boolean {
    const current = entry.fields.get(field);
    if (current !== undefined) {
      if (version < current.version) return false;
      // Equal versions: a deletion beats an existence claim, other values compare by their JSON text.
      if (version === current.version) {
        const wins =
          field === EXISTS
            ? value === false && current.value !== false
            : compareValues(value, current.value) > 0;
        if (!wins) return false;
      }
    }
    this.setCell(key, entry, field, value, version, current);
    return true;
  }

  // ------------------------------------------------------------------------------------------------------------
  // Deltas and snapshots

  /**
   * Everything that changed after version `since`: applied with `applyChanges` to a copy of this store taken at
   * `since`, it gives the current state. Incomplete when `since` is older than pruned tombstones.
   */
  changesSince(since: number): ChangesSince {
    if (since < this.prunedBefore)
      return { complete: false, version: this.currentVersion, horizon: this.prunedBefore };
    const changes: StoreChange[] = [];
    for (const [key, entry] of this.entries) {
      if (entry.maxVersion <= since) continue;
      const fields = record<FieldValue>();
      const versions = record<number>();
      for (const [field, cell] of entry.fields) {
        if (cell.version > since) {
          fields[field] = cell.value;
          versions[field] = cell.version;
        }
      }
      const cleared = entry.clearedAt > since;
      changes.push(
        cleared
          ? { key, cleared, clearedAt: entry.clearedAt, fields, versions }
          : { key, cleared, fields, versions },
      );
    }
    return { complete: true, version: this.currentVersion, changes };
  }

  /** Applies the output of `changesSince` (from another store) to this one. */
  applyChanges(changes: readonly StoreChange[], version: number): void {
    for (const change of changes) {
      const entry = this.touch(change.key, 0);
      if (change.cleared) {
        if (change.clearedAt !== undefined) entry.clearedAt = Math.max(entry.clearedAt, change.clearedAt);
        for (const [field, cell] of entry.fields) {
          if (field === EXISTS) continue;
          this.undo?.pushCell(change.key, field, cell.value, cell.version);
          entry.fields.delete(field);
        }
      }
      for (const field of Object.keys(change.fields)) {
        const v = Object.hasOwn(change.versions, field) ? change.versions[field]! : version;
        this.setCell(change.key, entry, field, change.fields[field]!, v);
        if (field === EXISTS && change.fields[field] === false)
          entry.clearedAt = Math.max(entry.clearedAt, v);
      }
    }
    this.currentVersion = Math.max(this.currentVersion, version);
  }

  /** Forgets tombstones deleted before `before`; later `changesSince(v < before)` answers incomplete. */
  pruneTombstones(before: number): number {
    let pruned = 0;
    for (const [key, entry] of this.entries) {
      if (!entry.exists && entry.clearedAt < before) {
        entry.alive = false;
        this.entries.delete(key);
        if (this.logDirty !== undefined && !entry.logDirty) this.markLog(entry);
        pruned++;
      }
    }
    this.prunedBefore = Math.max(this.prunedBefore, before);
    return pruned;
  }

  snapshot(): StoreSnapshot {
    const entries = record<{
      fields: Record<string, FieldValue>;
      versions: Record<string, number>;
      clearedAt?: number;
    }>();
    for (const [key, entry] of this.entries) {
      const fields = record<FieldValue>();
      const versions = record<number>();
      for (const [field, cell] of entry.fields) {
        fields[field] = cell.value;
        versions[field] = cell.version;
      }
      entries[key] =
        entry.clearedAt > 0 ? { fields, versions, clearedAt: entry.clearedAt } : { fields, versions };
    }
    return { version: this.currentVersion, horizon: this.prunedBefore, entries };
  }

  /** Rebuilds a store. Keys without `_exists` (foreign snapshots) are taken as existing. */
  static fromSnapshot(snapshot: StoreSnapshot): FieldStore {
    const store = new FieldStore();
    store.currentVersion = snapshot.version;
    store.prunedBefore = snapshot.horizon;
    for (const [key, source] of Object.entries(snapshot.entries)) {
      const fields = new Map<string, MutableCell>();
      let maxVersion = 0;
      for (const [field, value] of Object.entries(source.fields)) {
        const version = Object.hasOwn(source.versions, field) ? source.versions[field]! : snapshot.version;
        fields.set(field, { value, version });
        maxVersion = Math.max(maxVersion, version);
      }
      if (!fields.has(EXISTS)) fields.set(EXISTS, { value: true, version: maxVersion });
      const exists = fields.get(EXISTS)!;
      // Without a recorded deletion version, treat the existence write as the clear point: conservative for deltas.
      const clearedAt = source.clearedAt ?? (exists.value === false ? exists.version : 0);
      store.entries.set(key, {
        key,
        fields,
        exists: exists.value === true,
        alive: true,
        session: 0,
        existedAtSessionStart: false,
        touched: [],
        touchedCount: 0,
        clearedAt,
        maxVersion,
        memo: undefined,
        logDirty: false,
        logWhole: false,
      });
    }
    return store;
  }

  // ------------------------------------------------------------------------------------------------------------

  private touch(key: string, version: number, known?: Entry): Entry {
    let entry = known ?? this.entries.get(key);
    if (entry === undefined) {
      entry = {
        key,
        fields: new Map(),
        exists: false,
        alive: true,
        session: 0,
        existedAtSessionStart: false,
        touched: [],
        touchedCount: 0,
        clearedAt: 0,
        maxVersion: version,
        memo: undefined,
        logDirty: false,
        logWhole: this.logDirty !== undefined,
      };
      this.entries.set(key, entry);
      if (this.undo !== undefined) this.undo.pushEntryAbsent(key);
    } else if (this.undo !== undefined && entry.session !== this.session) {
      this.undo.pushEntryBounds(key, entry.clearedAt, entry.maxVersion);
    }
    if (this.undo !== undefined && entry.session !== this.session) {
      entry.session = this.session;
      entry.existedAtSessionStart = entry.exists;
      entry.touchedCount = 0;
      this.dirty.push(entry);
    }
    if (version > entry.maxVersion) entry.maxVersion = version;
    if (version > this.currentVersion) this.currentVersion = version;
    if (this.logDirty !== undefined && !entry.logDirty) this.markLog(entry);
    return entry;
  }

  private markLog(entry: Entry): void {
    entry.logDirty = true;
    this.logDirty?.push(entry);
  }

  /** `cell`: the field's cell when the caller already looked it up (a missing cell is looked up again: rare). */
  private setCell(
    key: string,
    entry: Entry,
    field: string,
    value: FieldValue,
    version: number,
    cell: MutableCell | undefined = entry.fields.get(field),
  ): void {
    if (this.undo !== undefined) {
      if (cell === undefined) this.undo.pushCellAbsent(key, field);
      else this.undo.pushCell(key, field, cell.value, cell.version);
    }
    if (cell === undefined) entry.fields.set(field, { value, version });
    else {
      cell.value = value;
      cell.version = version;
    }
    if (field === EXISTS) entry.exists = value === true;
    if (version > entry.maxVersion) entry.maxVersion = version;
    if (this.undo !== undefined && !touches(entry, field)) entry.touched[entry.touchedCount++] = field;
  }
}

/** Whether the last session that touched `key` touched `field`. */
export function touches(key: DirtyKey, field: string): boolean {
  const { touched, touchedCount } = key;
  for (let i = 0; i < touchedCount; i++) if (touched[i] === field) return true;
  return false;
}

/** A record without a prototype: keys from the wire (even `__proto__`) stay plain data. */
function record<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

/** Total order on values for equal-version ties: compares their JSON text. */
function compareValues(a: FieldValue, b: FieldValue): number {
  if (a === b) return 0;
  const x = JSON.stringify(a);
  const y = JSON.stringify(b);
  return x < y ? -1 : x > y ? 1 : 0;
}
