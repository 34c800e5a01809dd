import type { EntityUpdate } from '@p3/protocol';
import type { EntityState } from './entity-state.js';

/**
 * A world (entities by id) as an immutable table: the entities in id order and an index from id to position.
 * A frame that only changes entities (the usual frame: no creation, no removal) makes a new table by copying the
 * array of references and replacing the changed ones; the index is shared with the table before it. So holding a
 * world per frame (history, rewinds, frame views) costs one array copy per frame, where a `Map` per frame costs an
 * iteration and a hash insert per entity (the SDK's largest cost under load, measured by `npm run bench:sdk`).
 * Creations and removals rebuild the index.
 */
export class EntityTable implements ReadonlyMap<string, EntityState> {
  static readonly empty = new EntityTable([], new Map());

  private constructor(
    /** Entities ordered by id (UUIDv7 ids: creation order). Never changed once the table is made. */
    private readonly list: readonly EntityState[],
    private readonly index: ReadonlyMap<string, number>,
  ) {}

  /** A table holding the entities of any world. */
  static of(world: ReadonlyMap<string, EntityState>): EntityTable {
    if (world instanceof EntityTable) return world;
    return EntityTable.build([...world.values()]);
  }

  get size(): number {
    return this.list.length;
  }

  get(id: string): EntityState | undefined {
    const at = this.index.get(id);
    return at === undefined ? undefined : this.list[at];
  }

  has(id: string): boolean {
    return this.index.has(id);
  }

  /** The entities in id order (a copy: the caller may keep or change it). */
  sorted(): EntityState[] {
    return this.list.slice();
  }

  forEach(
    callback: (value: EntityState, key: string, map: ReadonlyMap<string, EntityState>) => void,
    thisArg?: unknown,
  ): void {
    for (const entity of this.list) callback.call(thisArg, entity, entity.id, this);
  }

  values(): MapIterator<EntityState> {
    return this.list.values();
  }

  keys(): MapIterator<string> {
    return this.list.map((e) => e.id).values();
  }

  entries(): MapIterator<[string, EntityState]> {
    return this.list.map((e): [string, EntityState] => [e.id, e]).values();
  }

  [Symbol.iterator](): MapIterator<[string, EntityState]> {
    return this.entries();
  }

  get [Symbol.toStringTag](): string {
    return 'EntityTable';
  }

  /**
   * This world with `updates` applied in order (`apply` makes an entity's next state; undefined `entity`: one
   * this world does not hold), then `removed` deleted. The same table when there is nothing to apply.
   */
  with(
    updates: readonly EntityUpdate[],
    removed: readonly string[],
    apply: (entity: EntityState | undefined, update: EntityUpdate) => EntityState,
  ): EntityTable {
    if (updates.length === 0 && removed.length === 0) return this;
    const list: Array<EntityState | undefined> = this.list.slice();
    let added: Map<string, EntityState> | undefined;
    let dropped = false;
    for (let i = 0; i < updates.length; i++) {
      const update = updates[i]!;
      const at = this.index.get(update.id);
      if (at !== undefined && list[at] !== undefined) list[at] = apply(list[at], update);
      else (added ??= new Map()).set(update.id, apply(added?.get(update.id), update));
    }
    for (let i = 0; i < removed.length; i++) {
      const id = removed[i]!;
      const at = this.index.get(id);
      if (at !== undefined && list[at] !== undefined) {
        list[at] = undefined;
        dropped = true;
      }
      added?.delete(id);
    }
    if (!dropped && (added === undefined || added.size === 0))
      return new EntityTable(list as EntityState[], this.index);
    const kept = list.filter((e): e is EntityState => e !== undefined);
    if (added !== undefined) for (const entity of added.values()) kept.push(entity);
    return EntityTable.build(kept);
  }

  private static build(entities: EntityState[]): EntityTable {
    entities.sort(byId);
    const index = new Map<string, number>();
    for (let i = 0; i < entities.length; i++) index.set(entities[i]!.id, i);
    return new EntityTable(entities, index);
  }
}

function byId(a: EntityState, b: EntityState): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}
