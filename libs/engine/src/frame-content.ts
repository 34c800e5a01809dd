import type { EntityFields, EntityUpdate, Frame, FrameType, GameEvent, InputState } from '@p3/protocol';
import type { CompiledSchema } from './compiled-schema.js';
import type { FieldStore, UndoEntry } from './field-store.js';
import { EXISTS, INPUT, OWNER, TYPE } from './internal-fields.js';

interface Touched {
  readonly fields: Set<string>;
  existedBefore: boolean | undefined;
}

/**
 * Builds the frame clients receive from what one tick changed (its undo log): created entities with all their
 * replicable fields, changed entities with the replicable fields that changed, removed ids. Entities appear in
 * the order the tick first touched them, which is deterministic because ticks are.
 */
export function buildFrame(
  store: FieldStore,
  schema: CompiledSchema,
  log: readonly UndoEntry[],
  head: { id: number; type: FrameType; time: number; events: readonly GameEvent[] },
): Frame {
  const touched = new Map<string, Touched>();
  for (const entry of log) {
    if (entry.kind === 'entry') {
      if (!touched.has(entry.key)) touched.set(entry.key, { fields: new Set(), existedBefore: entry.prev === undefined ? false : undefined });
    } else if (entry.kind === 'cell') {
      let t = touched.get(entry.key);
      if (!t) {
        t = { fields: new Set(), existedBefore: undefined };
        touched.set(entry.key, t);
      }
      if (entry.field === EXISTS && t.existedBefore === undefined) t.existedBefore = entry.prev?.value === true;
      t.fields.add(entry.field);
    }
  }

  const entities: EntityUpdate[] = [];
  const removed: string[] = [];
  for (const [id, t] of touched) {
    const existsNow = store.exists(id);
    const existedBefore = t.existedBefore ?? existsNow;
    if (!existsNow) {
      if (existedBefore) removed.push(id);
      continue;
    }
    const typeName = store.get(id, TYPE);
    const type = typeof typeName === 'string' ? schema.type(typeName) : undefined;
    if (!type) continue;
    const created = !existedBefore;
    const names = created ? type.replicableNames : [...t.fields].filter((f) => type.replicable.has(f));
    let fields: EntityFields | undefined;
    for (const name of names) {
      const value = store.get(id, name);
      if (value === undefined) continue;
      fields ??= {};
      fields[name] = value;
    }
    const ownerChanged = created || t.fields.has(OWNER);
    const inputChanged = t.fields.has(INPUT) && store.get(id, INPUT) !== undefined;
    if (!created && fields === undefined && !ownerChanged && !inputChanged) continue;
    const update: { -readonly [K in keyof EntityUpdate]: EntityUpdate[K] } = { id, typeName: type.name };
    if (created) update.created = true;
    if (ownerChanged) update.owner = (store.get(id, OWNER) as string | null | undefined) ?? null;
    if (fields !== undefined) update.fields = fields;
    if (inputChanged) update.input = store.get(id, INPUT) as InputState;
    entities.push(update);
  }
  return { id: head.id, type: head.type, time: head.time, events: head.events, entities, removed };
}

/** A frame's content without its type, for "did a re-run change this frame?" checks. */
export function frameContentKey(frame: Frame): string {
  return JSON.stringify([frame.events, frame.entities, frame.removed]);
}
