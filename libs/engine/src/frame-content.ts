import type { EntityFields, EntityUpdate, Frame, FrameType, GameEvent, InputState } from '@p3/protocol';
import type { CompiledSchema } from './compiled-schema.js';
import { touches, type FieldStore } from './field-store.js';
import { INPUT, OWNER, TYPE } from './internal-fields.js';

/**
 * Builds the frame clients receive from what one tick changed (the store's dirty keys of that recording session):
 * created entities with all their replicable fields, changed entities with the replicable fields that changed,
 * removed ids. Entities appear in the order the tick first touched them, which is deterministic because ticks are.
 */
export function buildFrame(
  store: FieldStore,
  schema: CompiledSchema,
  head: { id: number; type: FrameType; time: number; events: readonly GameEvent[] },
): Frame {
  const entities: EntityUpdate[] = [];
  const removed: string[] = [];
  for (const t of store.dirtyKeys()) {
    const id = t.key;
    const cells = t.fields;
    const existsNow = t.exists;
    const existedBefore = t.existedAtSessionStart;
    if (!existsNow) {
      if (existedBefore) removed.push(id);
      continue;
    }
    const typeName = cells.get(TYPE)?.value;
    const type = typeof typeName === 'string' ? schema.type(typeName) : undefined;
    if (!type) continue;
    const created = !existedBefore;
    let fields: EntityFields | undefined;
    if (created) {
      for (const name of type.replicableNames) {
        const cell = cells.get(name);
        if (cell === undefined) continue;
        fields ??= {};
        fields[name] = cell.value;
      }
    } else {
      for (let i = 0; i < t.touchedCount; i++) {
        const name = t.touched[i] as string;
        if (!type.replicable.has(name)) continue;
        const cell = cells.get(name);
        if (cell === undefined) continue;
        fields ??= {};
        fields[name] = cell.value;
      }
    }
    const ownerChanged = created || touches(t, OWNER);
    const input = touches(t, INPUT) ? (cells.get(INPUT)?.value as InputState | undefined) : undefined;
    if (!created && fields === undefined && !ownerChanged && input === undefined) continue;
    const update: { -readonly [K in keyof EntityUpdate]: EntityUpdate[K] } = { id, typeName: type.name };
    if (created) update.created = true;
    if (ownerChanged) update.owner = (cells.get(OWNER)?.value as string | null | undefined) ?? null;
    if (fields !== undefined) update.fields = fields;
    if (input !== undefined) update.input = input;
    entities.push(update);
  }
  return { id: head.id, type: head.type, time: head.time, events: head.events, entities, removed };
}

/** A frame's content without its type, for "did a re-run change this frame?" checks. */
export function frameContentKey(frame: Frame): string {
  return JSON.stringify([frame.events, frame.entities, frame.removed]);
}
