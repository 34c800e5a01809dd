import type { EntityUpdate, FieldValue, Frame, FrameType, GameEvent, InputState } from '@p3/protocol';
import type { CompiledSchema } from './compiled-schema.js';
import type { Command } from './commands.js';
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
  /**
   * Commands accepted for frames after `frame` (client ops stamped ahead, server calls, joins and leaves), in
   * application order: a restored world applies them at their frames (or at its next frame when those passed).
   * Absent in snapshots of older versions.
   */
  readonly pending?: readonly PendingCommand[];
}

/** A scheduled command at rest: what `Command` holds, without the live store reference. */
export type PendingCommand = Command extends infer C ? (C extends Command ? Omit<C, 'entry'> : never) : never;

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

/** The scheduled commands of a world at rest: each without its live store reference. */
export function toPendingCommand(command: Command): PendingCommand {
  if (!('entry' in command)) return command;
  const { entry: _entry, ...rest } = command;
  return rest;
}

export function toWorldSnapshot(
  store: FieldStore,
  schema: CompiledSchema,
  frame: number,
  tickRate: number,
  connections: readonly ConnectionInfo[],
  frames: readonly Frame[],
  pending: readonly PendingCommand[] = [],
): WorldSnapshot {
  return worldSnapshotOf(store.snapshot(), {
    frame,
    tickRate,
    connections,
    frames: frames.map((f) => ({
      id: f.id,
      type: f.type,
      globalTimeDesynced: f.time,
      events: f.events,
      entityUpdates: f.entities,
      removed: f.removed,
    })),
    pending,
    knows: (typeName) => schema.type(typeName) !== undefined,
  });
}

/**
 * A world snapshot from a raw store snapshot (entries with internal fields) and the rest of the world's state.
 * `knows` filters entity types (a world drops types its schema no longer has); without it every type is kept.
 */
export function worldSnapshotOf(
  raw: StoreSnapshot,
  rest: {
    readonly frame: number;
    readonly tickRate: number;
    readonly connections: readonly ConnectionInfo[];
    readonly frames: readonly SnapshotFrame[];
    readonly pending: readonly PendingCommand[];
    readonly knows?: (typeName: string) => boolean;
  },
): WorldSnapshot {
  const { frame } = rest;
  const entities: SnapshotEntity[] = [];
  const tombstones: { id: string; deletedAt: number }[] = [];
  const owned = new Map<string, string[]>();
  for (const [id, entry] of Object.entries(raw.entries)) {
    if (entry.fields[EXISTS] === false) {
      tombstones.push({ id, deletedAt: entry.clearedAt ?? entry.versions[EXISTS] ?? frame });
      continue;
    }
    const typeName = entry.fields[TYPE];
    if (typeof typeName !== 'string' || (rest.knows !== undefined && !rest.knows(typeName))) continue;
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
    tickRate: rest.tickRate,
    entities,
    connections: rest.connections.map((c) => ({
      id: c.id,
      firstSeen: c.firstSeen,
      lastSeen: c.lastSeen,
      entities: owned.get(c.id) ?? [],
    })),
    frames: rest.frames,
    tombstones,
    horizon: raw.horizon,
    ...(rest.pending.length > 0 ? { pending: rest.pending } : {}),
  };
}

/** The raw store state of a world snapshot (internal fields included). `knows` filters entity types. */
export function storeSnapshotOf(
  snapshot: WorldSnapshot,
  knows?: (typeName: string) => boolean,
): StoreSnapshot {
  const entries: Record<
    string,
    { fields: Record<string, FieldValue>; versions: Record<string, number>; clearedAt?: number }
  > = {};
  for (const e of snapshot.entities) {
    if (knows !== undefined && !knows(e.typeName)) continue;
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
  return { version: snapshot.frame, horizon: snapshot.horizon, entries };
}

export function restoreWorldState(
  snapshot: WorldSnapshot,
  schema: CompiledSchema,
): { store: FieldStore; connections: ConnectionInfo[]; frames: Frame[] } {
  return {
    store: FieldStore.fromSnapshot(
      storeSnapshotOf(snapshot, (typeName) => schema.type(typeName) !== undefined),
    ),
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
