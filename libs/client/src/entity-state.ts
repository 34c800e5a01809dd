import type { EntityFields, EntityUpdate, FieldValue, InputState } from '@p3/protocol';
import { EntityTable } from './entity-table.js';

/** One entity as the client sees it at one frame. Frozen: a new object is made whenever it changes. */
export interface EntityState {
  readonly id: string;
  readonly typeName: string;
  /** Owning connection id; null for entities owned by the server. */
  readonly owner: string | null;
  readonly fields: Readonly<EntityFields>;
  readonly input: Readonly<InputState>;
}

/**
 * The entities of a world at one frame, by id. Worlds are persistent values: applying a frame makes a new table
 * (entity-table.ts) and new objects for the entities it touched only, so past frames keep their worlds for the cost
 * of one array of references each.
 */
export type WorldState = ReadonlyMap<string, EntityState>;

export const emptyWorld: WorldState = EntityTable.empty;

const noInput: Readonly<InputState> = Object.freeze({});

export function entityState(
  id: string,
  typeName: string,
  owner: string | null,
  fields: EntityFields,
  input: InputState = noInput,
): EntityState {
  return frozenEntity(
    id,
    typeName,
    owner,
    { ...fields },
    input === noInput ? noInput : Object.freeze({ ...input }),
  );
}

/** An entity from parts this module owns (fresh objects, or ones already frozen): frozen without copying them. */
function frozenEntity(
  id: string,
  typeName: string,
  owner: string | null,
  fields: EntityFields,
  input: Readonly<InputState>,
): EntityState {
  Object.freeze(fields);
  return Object.freeze({ id, typeName, owner, fields, input });
}

/** `entity` after one update (undefined `entity`: the update creates it, or describes one the client missed). */
export function applyEntityUpdate(entity: EntityState | undefined, update: EntityUpdate): EntityState {
  if (update.created === true || entity === undefined) {
    return entityState(
      update.id,
      update.typeName,
      update.owner ?? null,
      update.fields ?? {},
      update.input ?? noInput,
    );
  }
  return frozenEntity(
    update.id,
    update.typeName,
    update.owner === undefined ? entity.owner : update.owner,
    update.fields === undefined ? entity.fields : merged(entity.fields, update.fields),
    update.input === undefined ? entity.input : Object.freeze({ ...update.input }),
  );
}

/**
 * `base` with `changes` written over it, as a new object. A copy of `base` (same keys, same shape) with values
 * assigned: an update usually writes fields the entity has, so nothing is added and the object keeps its shape.
 */
function merged(base: Readonly<EntityFields>, changes: EntityFields): EntityFields {
  // An update that writes every field the entity has (a moving object's x, y...) is the new state as it is: the
  // frame's own object is kept (and frozen, as frames are immutable) instead of a copy per update.
  let covers = true;
  for (const name in base) {
    if (!(name in changes)) {
      covers = false;
      break;
    }
  }
  if (covers) return changes;
  const out: EntityFields = { ...base };
  for (const name in changes) out[name] = changes[name]!;
  return out;
}

/** A new world with `entities` applied then `removed` deleted; the same world when there is nothing to apply. */
export function applyChanges(
  world: WorldState,
  entities: readonly EntityUpdate[],
  removed: readonly string[],
): WorldState {
  if (entities.length === 0 && removed.length === 0) return world;
  return EntityTable.of(world).with(entities, removed, applyEntityUpdate);
}

/** Entities ordered by id: UUIDv7 ids sort by creation, so this is creation order on every client. */
export function sortedEntities(world: WorldState): EntityState[] {
  if (world instanceof EntityTable) return world.sorted();
  return [...world.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** The updates that turn world `a` into world `b` (for frames the client builds itself, e.g. predictions). */
export function diffWorlds(a: WorldState, b: WorldState): { entities: EntityUpdate[]; removed: string[] } {
  const entities: EntityUpdate[] = [];
  const removed: string[] = [];
  for (const [id, next] of b) {
    const prev = a.get(id);
    if (prev === next) continue;
    if (prev === undefined || prev.typeName !== next.typeName) {
      entities.push({
        id,
        typeName: next.typeName,
        created: true,
        owner: next.owner,
        fields: next.fields,
        input: next.input,
      });
      continue;
    }
    let fields: Record<string, FieldValue> | undefined;
    for (const [name, value] of Object.entries(next.fields)) {
      if (!sameValue(prev.fields[name], value)) (fields ??= {})[name] = value;
    }
    const input = prev.input === next.input || sameValue(prev.input, next.input) ? undefined : next.input;
    const owner = prev.owner === next.owner ? undefined : next.owner;
    if (fields === undefined && input === undefined && owner === undefined) continue;
    entities.push({
      id,
      typeName: next.typeName,
      ...(owner === undefined ? {} : { owner }),
      ...(fields === undefined ? {} : { fields }),
      ...(input === undefined ? {} : { input }),
    });
  }
  for (const id of a.keys()) if (!b.has(id)) removed.push(id);
  return { entities, removed };
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  return JSON.stringify(a) === JSON.stringify(b);
}
