import type { Frame, FrameType, GameEvent, EntityUpdate } from '@p3/protocol';
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

/**
 * A frame and its world; the sorted entity list is built on first use and kept. A class with private fields, not an
 * object of closures: one is made per frame per client, and the world stays out of `JSON.stringify(frame)`.
 */
class FrameView implements P3Frame {
  readonly id: number;
  readonly type: FrameType;
  readonly time: number;
  readonly events: readonly GameEvent[];
  readonly entities: readonly EntityUpdate[];
  readonly removed: readonly string[];
  readonly #source: WorldSource;
  #sorted: readonly EntityState[] | undefined;

  constructor(head: Frame, source: WorldSource) {
    this.id = head.id;
    this.type = head.type;
    this.time = head.time;
    this.events = head.events;
    this.entities = head.entities;
    this.removed = head.removed;
    this.#source = source;
    Object.freeze(this);
  }

  getWorldEntities(): readonly EntityState[] {
    return (this.#sorted ??= Object.freeze(sortedEntities(this.#source.world)));
  }

  getWorldEntity(id: string): EntityState | undefined {
    return this.#source.world.get(id);
  }
}

/** Where a frame view finds its world: read when first asked for (a held frame makes its world then). */
export interface WorldSource {
  readonly world: WorldState;
}

/** Wraps a frame and its world. */
export function frameView(head: Frame, source: WorldSource): P3Frame {
  return new FrameView(head, source);
}
