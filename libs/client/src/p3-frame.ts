import type { Frame } from '@p3/protocol';
import { sortedEntities, type EntityState, type WorldState } from './entity-state.js';

/**
 * A frame as the client API returns it (`getFrame`, the `frame` event): the frame's own changes plus the whole
 * world after it. Immutable.
 *
 * @example
 * p3.on('frame', (frame) => render(frame.getWorldEntities()));
 */
export interface P3Frame extends Frame {
  /** Every entity after this frame, ordered by id (creation order). */
  getWorldEntities(): readonly EntityState[];
  /** One entity after this frame. */
  getWorldEntity(id: string): EntityState | undefined;
}

/** Wraps a frame and its world; the sorted entity list is built on first use and kept. */
export function frameView(head: Frame, world: WorldState): P3Frame {
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
