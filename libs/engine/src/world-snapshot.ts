import type { EntityUpdate, FieldValue, Frame, FrameType, GameEvent, InputState } from '@p3/protocol';
import type { CompiledSchema } from './compiled-schema.js';
import { FieldStore, type StoreSnapshot } from './field-store.js';
import { EXISTS, INPUT, OWNER, TYPE } from './internal-fields.js';
import type { ConnectionInfo } from './world-definition.js';

/**
 * A world at rest, in the data-structure shape of seed 000 (`entities`, `connections`, `frames`), plus what a
 * restore needs to answer deltas: per-field versions (frame ids), tombstones and the prune horizon.
 * Times are frames and room time, never wall-clock.
 */
export interface WorldSnapshot {
  readonly format: 'p3.world/1';
  readonly frame: number;
  readonly tickRate: number;
  readonly entities: readonly SnapshotEntity[];
  readonly connections: readonly SnapshotConnection[];
  readonly frames: readonly SnapshotFrame[];
  readonly tombstones: ReadonlyArray<{ readonly id: string; readonly deletedAt: number }>;
  readonly horizon: number;
}

export interface SnapshotEntity {
  readonly id: string;
  readonly typeName: string;
  /** Frame the entity was created in. */
  readonly firstSeen: number;
  /** Frame of its last change. */
  readonly lastSeen: number;
  /** Every field, replicable or not (a snapshot stays on the server side). */
  readonly data: Readonly<Record<string, FieldValue>>;
  readonly connectionId: string | null;
  readonly input?: InputState;
  /** Frame that last wrote each field, including metadata (`_type`, `_owner`, `_input`, `_exists`). */
  readonly versions: Readonly<Record<string, number>>;
}

export interface SnapshotConnection {
  readonly id: string;
  readonly firstSeen: number;
  readonly lastSeen: number;
  readonly entities: readonly string[];
}

export interface SnapshotFrame {
  readonly id: number;
  readonly type: FrameType;
  /** Room time of the frame in ms: desynced from any wall clock on purpose. */
  readonly globalTimeDesynced: number;
  readonly events: readonly GameEvent[];
  readonly entityUpdates: readonly EntityUpdate[];
  readonly removed: readonly string[];
}

const metadata = new Set([EXISTS, TYPE, OWNER, INPUT]);

export function toWorldSnapshot(
  store: FieldStore,
  schema: CompiledSchema,
  frame: number,
  tickRate: number,
  connections: readonly ConnectionInfo[],
  frames: readonly Frame[],
): WorldSnapshot {
  const raw = store.snapshot();
  const entities: SnapshotEntity[] = [];
  const tombstones: { id: string; deletedAt: number }[] = [];
  const owned = new Map<string, string[]>();
  for (const [id, entry] of Object.entries(raw.entries)) {
    if (entry.fields[EXISTS] === false) {
      tombstones.push({ id, deletedAt: entry.clearedAt ?? entry.versions[EXISTS] ?? frame });
      continue;
    }
    const typeName = entry.fields[TYPE];
    if (typeof typeName !== 'string' || !schema.type(typeName)) continue;
    const data: Record<string, FieldValue> = {};
    for (const [name, value] of Object.entries(entry.fields)) if (!metadata.has(name)) data[name] = value;
    const owner = entry.fields[OWNER];
    const input = entry.fields[INPUT] as InputState | undefined;
    if (typeof owner === 'string') owned.set(owner, [...(owned.get(owner) ?? []), id]);
    entities.push({
      id,
      typeName,
      firstSeen: entry.versions[TYPE] ?? 0,
      lastSeen: Math.max(0, ...Object.values(entry.versions)),
      data,
      connectionId: typeof owner === 'string' ? owner : null,
      ...(input === undefined ? {} : { input }),
      versions: entry.versions,
    });
  }
  return {
    format: 'p3.world/1',
    frame,
    tickRate,
    entities,
    connections: connections.map((c) => ({
      id: c.id,
      firstSeen: c.firstSeen,
      lastSeen: c.lastSeen,
      entities: owned.get(c.id) ?? [],
    })),
    frames: frames.map((f) => ({
      id: f.id,
      type: f.type,
      globalTimeDesynced: f.time,
      events: f.events,
      entityUpdates: f.entities,
      removed: f.removed,
    })),
    tombstones,
    horizon: raw.horizon,
  };
}

export function restoreWorldState(
  snapshot: WorldSnapshot,
  schema: CompiledSchema,
): { store: FieldStore; connections: ConnectionInfo[]; frames: Frame[] } {
  const entries: Record<
    string,
    { fields: Record<string, FieldValue>; versions: Record<string, number>; clearedAt?: number }
  > = {};
  for (const e of snapshot.entities) {
    if (!schema.type(e.typeName)) continue;
    const fields: Record<string, FieldValue> = {
      [EXISTS]: true,
      [TYPE]: e.typeName,
      [OWNER]: e.connectionId,
      ...e.data,
    };
    if (e.input !== undefined) fields[INPUT] = e.input;
    const versions: Record<string, number> = {};
    for (const name of Object.keys(fields)) versions[name] = e.versions[name] ?? e.firstSeen;
    entries[e.id] = { fields, versions };
  }
  for (const t of snapshot.tombstones) {
    entries[t.id] = {
      fields: { [EXISTS]: false },
      versions: { [EXISTS]: t.deletedAt },
      clearedAt: t.deletedAt,
    };
  }
  const storeSnapshot: StoreSnapshot = { version: snapshot.frame, horizon: snapshot.horizon, entries };
  return {
    store: FieldStore.fromSnapshot(storeSnapshot),
    connections: snapshot.connections.map((c) => ({
      id: c.id,
      firstSeen: c.firstSeen,
      lastSeen: c.lastSeen,
    })),
    frames: snapshot.frames.map((f) => ({
      id: f.id,
      type: f.type,
      time: f.globalTimeDesynced,
      events: f.events,
      entities: f.entityUpdates,
      removed: f.removed,
    })),
  };
}
