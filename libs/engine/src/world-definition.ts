import type { EntityTypeSpec, FieldValue, GameEvent, InputState, JsonValue, WorldSchema } from '@p3/protocol';
import { CompiledSchema } from './compiled-schema.js';

/**
 * A live view of one entity inside a tick. Reads go to the world's current state; writes (server authority)
 * are clamped to the field's min/max and stamped with the frame.
 */
export interface Entity {
  readonly id: string;
  readonly typeName: string;
  /** Owning connection id; null for server-owned entities. */
  readonly owner: string | null;
  /** False once the entity was removed. */
  readonly exists: boolean;
  readonly input: Readonly<InputState>;
  /** Input state of the owner for this frame: `isOn('up')`. */
  isOn(name: string): boolean;
  /** A field's value. Non-replicable fields in a non-authoritative world (a client's prediction) throw UNKNOWN_FIELD. */
  get<T extends FieldValue = FieldValue>(field: string): T;
  set(field: string, value: FieldValue): void;
  /** All fields as a plain object (non-replicable ones only where `ctx.authority`: elsewhere nobody knows them). */
  data(): Record<string, FieldValue>;
}

export interface ConnectionInfo {
  readonly id: string;
  /** Frame the connection joined at. */
  readonly firstSeen: number;
  /** Last frame an op of this connection was applied. */
  readonly lastSeen: number;
}

/**
 * Everything tick logic may touch. Re-simulation (after a late input) runs the same logic again on the
 * restored state, so logic must be a function of (state, inputs, frame): use `time`, `dt` and `random`
 * from here, never `Date.now()` or `Math.random()`, and keep simulation state in entities, not in closures.
 */
export interface TickContext {
  /**
   * True where this run decides the state (the server's room: the default); false in a client's prediction
   * (`WorldOptions.authority: false`). Logic that needs what only the server knows (non-replicable fields, random
   * spawns, scoring, bots) runs under `if (ctx.authority)`: a client cannot reproduce it, so its prediction must not
   * try. In a non-authoritative world a read of a non-replicable field throws UNKNOWN_FIELD instead of returning a
   * value the server does not have.
   *
   * @example
   * if (ctx.authority && !p.get<boolean>('spawned')) { p.set('x', ctx.random() * 100); p.set('spawned', true); }
   */
  readonly authority: boolean;
  readonly frame: number;
  /** Room time of this frame in ms (frame x 1000 / tickRate): monotonic, never wall-clock. */
  readonly time: number;
  /** Seconds per tick. */
  readonly dt: number;
  /** Seeded by (world seed, frame): the same numbers on every run of this frame. */
  random(): number;
  /** Entities (optionally of one type), ordered by id, i.e. by creation. */
  entities(typeName?: string): readonly Entity[];
  entity(id: string): Entity | undefined;
  create(typeName: string, data?: Record<string, FieldValue>, options?: { owner?: string | null }): Entity;
  remove(id: string): void;
  emit(name: string, type: string, data?: JsonValue): GameEvent;
  /** Events applied in this frame so far (client events and those emitted by logic). */
  readonly events: readonly GameEvent[];
  connections(): readonly ConnectionInfo[];
}

/** Server logic, written once: the embedded server and the cluster simulator both load it. */
export interface WorldDefinition {
  readonly schema: WorldSchema;
  /** Runs once per frame after the frame's inputs and changes are applied. */
  readonly tick?: (ctx: TickContext) => void;
  /** Runs inside the frame a connection joins (e.g. spawn its avatar). */
  readonly onConnect?: (ctx: TickContext, connection: ConnectionInfo) => void;
  /** Runs inside the frame a connection leaves, before its connection-bound entities are removed. */
  readonly onDisconnect?: (ctx: TickContext, connection: ConnectionInfo) => void;
}

/**
 * Declares a world. Validates the schema at once (throws P3Error INVALID_SCHEMA).
 *
 * @example
 * export default defineWorld({
 *   schema: { player: { fields: { x: { dataType: 'number', min: 0, max: 100, accessControl: 'client' } }, connectionBound: true } },
 *   tick(ctx) { for (const p of ctx.entities('player')) if (p.isOn('right')) p.set('x', p.get<number>('x') + 10 * ctx.dt); },
 * });
 */
export function defineWorld(definition: WorldDefinition): WorldDefinition {
  new CompiledSchema(definition.schema);
  return definition;
}

/** Builds a schema incrementally (the `P3Server.createEntityType` style). */
export function addEntityType(schema: WorldSchema, typeName: string, spec: EntityTypeSpec): WorldSchema {
  const next = { ...schema, [typeName]: spec };
  new CompiledSchema(next);
  return next;
}
