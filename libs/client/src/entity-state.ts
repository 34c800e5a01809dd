import type { EntityFields, EntityUpdate, FieldValue, InputState } from '@p3/protocol';

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
 * The entities of a world at one frame, by id. Worlds are persistent values: applying a frame makes a new map and
 * new objects for the entities it touched only, so past frames keep their worlds for the cost of one map each.
 */
export type WorldState = ReadonlyMap<string, EntityState>;

export const emptyWorld: WorldState = new Map();

const noInput: Readonly<InputState> = Object.freeze({});

export function entityState(
  id: string,
  typeName: string,
  owner: string | null,
  fields: EntityFields,
  input: InputState = noInput,
): EntityState {
  return Object.freeze({
    id,
    typeName,
    owner,
    fields: Object.freeze({ ...fields }),
    input: input === noInput ? noInput : Object.freeze({ ...input }),
  });
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
  return entityState(
    update.id,
    update.typeName,
    update.owner === undefined ? entity.owner : update.owner,
    update.fields === undefined ? entity.fields : { ...entity.fields, ...update.fields },
    update.input ?? entity.input,
  );
}

/** A new world with `entities` applied then `removed` deleted; the same world when there is nothing to apply. */
export function applyChanges(
  world: WorldState,
  entities: readonly EntityUpdate[],
  removed: readonly string[],
): WorldState {
  if (entities.length === 0 && removed.length === 0) return world;
  const next = new Map(world);
  for (const update of entities) next.set(update.id, applyEntityUpdate(next.get(update.id), update));
  for (const id of removed) next.delete(id);
  return next;
}

/** Entities ordered by id: UUIDv7 ids sort by creation, so this is creation order on every client. */
export function sortedEntities(world: WorldState): EntityState[] {
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
