import type { EntityFields, EntityUpdate, InputState } from '@p3/protocol';
import type { CompiledSchema } from './compiled-schema.js';
import type { FieldStore } from './field-store.js';
import { EXISTS, INPUT, OWNER, TYPE } from './internal-fields.js';

/** A live entity as a creation update: every replicable field, owner and input. */
export function fullEntityUpdate(
  store: FieldStore,
  schema: CompiledSchema,
  id: string,
): EntityUpdate | undefined {
  if (!store.exists(id)) return undefined;
  const typeName = store.get(id, TYPE);
  const type = typeof typeName === 'string' ? schema.type(typeName) : undefined;
  if (!type) return undefined;
  const fields: EntityFields = {};
  for (const name of type.replicableNames) {
    const value = store.get(id, name);
    if (value !== undefined) fields[name] = value;
  }
  const input = store.get(id, INPUT) as InputState | undefined;
  const owner = store.get(id, OWNER);
  return {
    id,
    typeName: type.name,
    created: true,
    owner: typeof owner === 'string' ? owner : null,
    fields,
    ...(input === undefined ? {} : { input }),
  };
}

/**
 * Entity updates that bring a client holding frame `since` to the current state: entities created (or
 * re-created) after it in full, others with the replicable fields changed after it, and removed ids.
 * Undefined when tombstones older than `since` were pruned (send the full state).
 */
export function entityUpdatesSince(
  store: FieldStore,
  schema: CompiledSchema,
  since: number,
): { complete: true; entities: EntityUpdate[]; removed: string[] } | undefined {
  const delta = store.changesSince(since);
  if (!delta.complete) return undefined;
  const entities: EntityUpdate[] = [];
  const removed: string[] = [];
  for (const change of delta.changes) {
    if (!store.exists(change.key)) {
      if (change.fields[EXISTS] === false) removed.push(change.key);
      continue;
    }
    if (change.cleared || change.fields[TYPE] !== undefined) {
      const update = fullEntityUpdate(store, schema, change.key);
      if (update) entities.push(update);
      continue;
    }
    const typeName = store.get(change.key, TYPE);
    const type = typeof typeName === 'string' ? schema.type(typeName) : undefined;
    if (!type) continue;
    let fields: EntityFields | undefined;
    for (const name of Object.keys(change.fields)) {
      if (!type.replicable.has(name)) continue;
      fields ??= {};
      fields[name] = change.fields[name]!;
    }
    const hasOwner = OWNER in change.fields;
    const input = change.fields[INPUT] as InputState | undefined;
    if (fields === undefined && !hasOwner && input === undefined) continue;
    const owner = store.get(change.key, OWNER);
    entities.push({
      id: change.key,
      typeName: type.name,
      ...(hasOwner ? { owner: typeof owner === 'string' ? owner : null } : {}),
      ...(fields === undefined ? {} : { fields }),
      ...(input === undefined ? {} : { input }),
    });
  }
  return { complete: true, entities, removed };
}
