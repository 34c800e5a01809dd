import type { EntityUpdate, FrameType, GameEvent } from '@p3/protocol';
import { sortedEntities, type EntityState, type WorldState } from './entity-state.js';

/**
 * A frame as the client API returns it (`getFrame`, the `frame` event): the frame's own changes plus the whole
 * world after it. Immutable.
 *
 * @example
 * p3.on('frame', (frame) => render(frame.getWorldEntities()));
 */
export interface P3Frame {
  readonly id: number;
  /** `verified`, `generated`, `corrected` (authoritative) or `predicted` (computed by this client). */
  readonly type: FrameType;
  /** Room time of the frame in ms (id x tick interval): monotonic, never wall-clock. */
  readonly time: number;
  readonly events: readonly GameEvent[];
  /** What changed on each entity in this frame. */
  readonly entities: readonly EntityUpdate[];
  /** Ids of entities removed in this frame. */
  readonly removed: readonly string[];
  /** Every entity after this frame, ordered by id (creation order). */
  getWorldEntities(): readonly EntityState[];
  /** One entity after this frame. */
  getWorldEntity(id: string): EntityState | undefined;
}

export interface FrameHead {
  readonly id: number;
  readonly type: FrameType;
  readonly time: number;
  readonly events: readonly GameEvent[];
  readonly entities: readonly EntityUpdate[];
  readonly removed: readonly string[];
}

/** Wraps a frame and its world; the sorted entity list is built on first use and kept. */
export function frameView(head: FrameHead, world: WorldState): P3Frame {
  let sorted: readonly EntityState[] | undefined;
  return Object.freeze({
    id: head.id,
    type: head.type,
    time: head.time,
    events: head.events,
    entities: head.entities,
    removed: head.removed,
    getWorldEntities: () => (sorted ??= Object.freeze(sortedEntities(world))),
    getWorldEntity: (id: string) => world.get(id),
  });
}
