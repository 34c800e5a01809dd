import type { EntityUpdate, Frame } from '@p3/protocol';
import { applyChanges, type WorldState } from './entity-state.js';
import { PackedFrame, type FieldShape } from './packed-frame.js';

const none: readonly never[] = Object.freeze([]);

/**
 * `world` after `frames` (oldest first), with each entity's updates of the frames in between applied as one: no
 * state per entity and frame that nobody reads, one table copy (and one more per frame that removes entities).
 * A packed update that writes every field the entity's pending one does replaces it by reference, so a moving
 * entity's updates are unpacked once, for the last of them.
 */
export function foldFrames(world: WorldState, frames: readonly Frame[]): WorldState {
  let pending: Map<string, EntityUpdate | number> | undefined;
  // A packed update pending by reference is the number frame + frames.length * index (no object per update).
  const span = frames.length;
  const unpacked = (u: EntityUpdate | number): EntityUpdate => {
    if (typeof u !== 'number') return u;
    const at = u % span;
    return (frames[at] as PackedFrame).updateAt((u - at) / span);
  };
  const shapeOf = (ref: number): FieldShape => {
    const at = ref % span;
    return (frames[at] as PackedFrame).shapeAt((ref - at) / span)!;
  };
  const flush = (removed: readonly string[]): void => {
    const updates: EntityUpdate[] = [];
    if (pending !== undefined) for (const u of pending.values()) updates.push(unpacked(u));
    world = applyChanges(world, updates, removed);
    pending = undefined;
  };
  for (let f = 0; f < span; f++) {
    const frame = frames[f]!;
    if (frame instanceof PackedFrame) {
      for (let i = 0; i < frame.size; i++) {
        const id = frame.idAt(i);
        const shape = frame.shapeAt(i);
        const earlier = (pending ??= new Map()).get(id);
        if (
          shape !== undefined &&
          (earlier === undefined ||
            (typeof earlier === 'number' ? shape.covers(shapeOf(earlier)) : shape.coversUpdate(earlier)))
        ) {
          pending.set(id, f + span * i);
        } else {
          const update = frame.updateAt(i);
          pending.set(id, earlier === undefined ? update : combined(unpacked(earlier), update));
        }
      }
    } else {
      const { entities } = frame;
      for (let k = 0; k < entities.length; k++) {
        const update = entities[k]!;
        const earlier = (pending ??= new Map()).get(update.id);
        pending.set(update.id, earlier === undefined ? update : combined(unpacked(earlier), update));
      }
    }
    // Removals apply after their frame's updates.
    if (frame.removed.length > 0) flush(frame.removed);
  }
  if (pending !== undefined) flush(none);
  return world;
}

/**
 * One update with the effect of `first` then `then` on the same entity (see applyEntityUpdate): a creation in `then`
 * replaces everything; otherwise `then`'s owner, fields and input are written over `first`'s.
 */
function combined(first: EntityUpdate, then: EntityUpdate): EntityUpdate {
  if (then.created === true || overrides(then, first)) return then;
  const owner = then.owner === undefined ? first.owner : then.owner;
  const fields =
    first.fields === undefined
      ? then.fields
      : then.fields === undefined
        ? first.fields
        : { ...first.fields, ...then.fields };
  const input = then.input === undefined ? first.input : then.input;
  return {
    id: then.id,
    typeName: then.typeName,
    ...(first.created === undefined ? {} : { created: first.created }),
    ...(owner === undefined ? {} : { owner }),
    ...(fields === undefined ? {} : { fields }),
    ...(input === undefined ? {} : { input }),
  };
}

/** Whether `then` alone has the effect of `first` then `then` (the usual case: a moving entity's next position). */
function overrides(then: EntityUpdate, first: EntityUpdate): boolean {
  if (first.created === true) return false;
  if (first.owner !== undefined && then.owner === undefined) return false;
  if (first.input !== undefined && then.input === undefined) return false;
  if (first.fields === undefined) return true;
  if (then.fields === undefined) return false;
  for (const name in first.fields) if (!(name in then.fields)) return false;
  return true;
}
