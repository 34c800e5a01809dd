import type { CompiledType } from './schema-tables.js';
import type { WireContext } from './wire-format.js';

/** Own creations remembered for `update` ops; the oldest are forgotten past this many. */
const maxRemembered = 65_536;

/**
 * The client side's answer to "which type is this entity?" for an `update` op (which does not carry its type):
 * the entity directory learned from frames and welcome, else the type of the client's own `create` op.
 * Creations and deletions of a message being encoded are pending until the encode succeeds.
 */
export class KnownTypes {
  private readonly created = new Map<string, string>();
  /** This message: uuid -> type name (create) or null (delete). */
  private readonly pending = new Map<string, string | null>();

  typeOf(ctx: WireContext, entityId: string): CompiledType | undefined {
    const pending = this.pending.get(entityId);
    if (pending === null) return undefined;
    if (pending !== undefined) return ctx.tables.findType(pending);
    const entry = ctx.directory.byId(entityId);
    if (entry !== undefined) return ctx.tables.types[entry.typeIndex];
    const name = this.created.get(entityId);
    return name === undefined ? undefined : ctx.tables.findType(name);
  }

  noteCreate(entityId: string, typeName: string): void {
    this.pending.set(entityId, typeName);
  }

  noteDelete(entityId: string): void {
    this.pending.set(entityId, null);
  }

  commit(): void {
    for (const [id, name] of this.pending) {
      this.created.delete(id);
      if (name !== null) this.created.set(id, name);
    }
    this.pending.clear();
    while (this.created.size > maxRemembered) {
      const oldest = this.created.keys().next();
      if (oldest.done === true) break;
      this.created.delete(oldest.value);
    }
  }

  rollback(): void {
    this.pending.clear();
  }
}
