import { ErrorCode, P3Error, type FieldValue, type InputState } from '@p3/protocol';
import { checkServerField } from './authority.js';
import type { CompiledType } from './compiled-schema.js';
import type { EntryRef, FieldStore } from './field-store.js';
import { INPUT, OWNER } from './internal-fields.js';
import type { Entity } from './world-definition.js';

/** What an entity handle needs from its world. */
export interface EntityHost {
  readonly store: FieldStore;
  /** False in a client's prediction: non-replicable fields are unknown there (see `WorldOptions.authority`). */
  readonly authority: boolean;
  writeAt(ref: EntryRef, field: string, value: FieldValue): void;
  assertInTick(): void;
}

const noInput: Readonly<InputState> = Object.freeze({});

/**
 * A stable, id-bound view: it reads the store on every access, so it stays right across rewinds. It keeps a
 * reference to the store entry (no lookup per field access) and re-resolves it once the entry is gone.
 */
export class EntityHandle implements Entity {
  private entryRef: EntryRef | undefined;

  constructor(
    private readonly host: EntityHost,
    readonly id: string,
    private readonly type: CompiledType,
  ) {}

  private ref(): EntryRef | undefined {
    if (this.entryRef === undefined || !this.entryRef.alive) this.entryRef = this.host.store.ref(this.id);
    return this.entryRef;
  }

  get typeName(): string {
    return this.type.name;
  }

  get owner(): string | null {
    const owner = this.host.store.get(this.id, OWNER);
    return typeof owner === 'string' ? owner : null;
  }

  get exists(): boolean {
    return this.host.store.exists(this.id);
  }

  get input(): Readonly<InputState> {
    return (this.host.store.get(this.id, INPUT) as InputState | undefined) ?? noInput;
  }

  isOn(name: string): boolean {
    return this.input[name] === true;
  }

  get<T extends FieldValue = FieldValue>(field: string): T {
    if (!this.host.authority && !this.type.replicable.has(field) && this.type.fields.has(field))
      throw serverOnly(this.type, field);
    const ref = this.ref();
    return (ref === undefined ? undefined : this.host.store.getAt(ref, field)) as T;
  }

  /** Writes (clamped) in the current tick; a no-op on a removed entity. */
  set(field: string, value: FieldValue): void {
    const checked = checkServerField(this.type, field, value, false);
    const ref = this.ref();
    if (ref === undefined) this.host.assertInTick();
    else this.host.writeAt(ref, field, checked);
  }

  data(): Record<string, FieldValue> {
    const out: Record<string, FieldValue> = {};
    for (const name of this.host.authority ? this.type.fieldNames : this.type.replicableNames) {
      const value = this.host.store.get(this.id, name);
      if (value !== undefined) out[name] = value;
    }
    return out;
  }
}

/** A read of what only the server knows, from a world that is not the authority (a client's prediction). */
function serverOnly(type: CompiledType, field: string): P3Error {
  return new P3Error(
    ErrorCode.UnknownField,
    `${type.name}.${field} is known only to the server (replicable: false): a prediction cannot read it; ` +
      'run the logic that needs it under `if (ctx.authority)`',
    { detail: field },
  );
}
