import type { FieldValue, Frame, WorldSchema } from '@p3/protocol';
import { entityState, sortedEntities, type EntityState, type WorldState } from './entity-state.js';

/** A frame and the world after it (the replica's held frames are). */
export interface FrameWorld {
  readonly frame: Frame;
  readonly world: WorldState;
}

/**
 * Entities as they were at room time `time`, for smooth rendering of remote entities: numeric fields declared
 * `interpolate: true` are blended linearly between the two held authoritative frames around `time`; every other
 * field (and the set of entities) is taken from the later frame. Before the oldest held frame the oldest world is
 * returned, after the latest the latest world (no extrapolation: prediction is `getFrame(+x)`'s job).
 *
 * @example
 * interpolateAt(replica.frames(), serverTime - 2 * tickInterval, tickInterval, schema)
 */
export function interpolateAt(
  frames: readonly FrameWorld[],
  time: number,
  tickInterval: number,
  schema: WorldSchema | undefined,
): EntityState[] {
  if (frames.length === 0) return [];
  const position = time / tickInterval;
  let before: FrameWorld | undefined;
  let after: FrameWorld | undefined;
  for (const held of frames) {
    if (held.frame.id <= position) before = held;
    else {
      after = held;
      break;
    }
  }
  if (before === undefined) return sortedEntities(frames[0]!.world);
  if (after === undefined) return sortedEntities(before.world);
  const alpha = (position - before.frame.id) / (after.frame.id - before.frame.id);
  return sortedEntities(blend(before.world, after.world, alpha, schema));
}

function blend(a: WorldState, b: WorldState, alpha: number, schema: WorldSchema | undefined): WorldState {
  if (schema === undefined || alpha <= 0) return alpha <= 0 ? a : b;
  const out = new Map<string, EntityState>();
  for (const [id, next] of b) {
    const prev = a.get(id);
    const type = schema[next.typeName];
    if (prev === undefined || prev.typeName !== next.typeName || type === undefined) {
      out.set(id, next);
      continue;
    }
    let fields: Record<string, FieldValue> | undefined;
    for (const [name, spec] of Object.entries(type.fields)) {
      if (spec.interpolate !== true) continue;
      const from = prev.fields[name];
      const to = next.fields[name];
      if (typeof from !== 'number' || typeof to !== 'number' || from === to) continue;
      (fields ??= { ...next.fields })[name] = from + (to - from) * alpha;
    }
    out.set(id, fields === undefined ? next : entityState(id, next.typeName, next.owner, fields, next.input));
  }
  return out;
}
