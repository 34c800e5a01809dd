import type { FieldValue, InputState } from '@p3/protocol';
import { checkServerField } from './authority.js';
import type { CompiledType } from './compiled-schema.js';
import type { FieldStore } from './field-store.js';
import { INPUT, OWNER } from './internal-fields.js';
import type { Entity } from './world-definition.js';

/** What an entity handle needs from its world. */
export interface EntityHost {
  readonly store: FieldStore;
  writeField(id: string, field: string, value: FieldValue): void;
  assertInTick(): void;
}

const noInput: Readonly<InputState> = Object.freeze({});

/** A stable, id-bound view: it reads the store on every access, so it stays right across rewinds. */
export class EntityHandle implements Entity {
  constructor(
    private readonly host: EntityHost,
    readonly id: string,
    private readonly type: CompiledType,
  ) {}

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
    return this.host.store.get(this.id, field) as T;
  }

  set(field: string, value: FieldValue): void {
    this.host.assertInTick();
    if (!this.exists) return;
    this.host.writeField(this.id, field, checkServerField(this.type, field, value, false));
  }

  data(): Record<string, FieldValue> {
    const out: Record<string, FieldValue> = {};
    for (const name of this.type.fieldNames) {
      const value = this.host.store.get(this.id, name);
      if (value !== undefined) out[name] = value;
    }
    return out;
  }
}
