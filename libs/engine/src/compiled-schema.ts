import {
  P3Error,
  ErrorCode,
  isReplicable,
  toWireSchema,
  validateSchema,
  type EntityTypeSpec,
  type FieldSpec,
  type FieldValue,
  type WorldSchema,
} from '@p3/protocol';
import { defaultFieldValue } from './field-value.js';

/** An entity type with lookups precomputed for the hot paths. */
export interface CompiledType {
  readonly name: string;
  readonly index: number;
  readonly spec: EntityTypeSpec;
  readonly fields: ReadonlyMap<string, FieldSpec>;
  readonly fieldNames: readonly string[];
  readonly replicableNames: readonly string[];
  readonly replicable: ReadonlySet<string>;
  readonly connectionBound: boolean;
  readonly defaults: Readonly<Record<string, FieldValue>>;
}

/** A validated schema. Throws P3Error(INVALID_SCHEMA) on a bad schema: that is a developer error. */
export class CompiledSchema {
  readonly source: WorldSchema;
  /** What clients see: non-replicable fields removed. */
  readonly wire: WorldSchema;
  private readonly byName = new Map<string, CompiledType>();

  constructor(schema: WorldSchema) {
    const checked = validateSchema(schema);
    if (!checked.ok) throw checked.error;
    this.source = schema;
    this.wire = toWireSchema(schema);
    Object.entries(schema).forEach(([name, spec], index) => {
      const fields = new Map(Object.entries(spec.fields));
      const replicableNames = [...fields].filter(([, f]) => isReplicable(f)).map(([n]) => n);
      const defaults: Record<string, FieldValue> = {};
      for (const [fieldName, field] of fields) defaults[fieldName] = defaultFieldValue(field);
      this.byName.set(name, {
        name,
        index,
        spec,
        fields,
        fieldNames: [...fields.keys()],
        replicableNames,
        replicable: new Set(replicableNames),
        connectionBound: spec.connectionBound === true,
        defaults,
      });
    });
  }

  type(name: string): CompiledType | undefined {
    return this.byName.get(name);
  }

  require(name: string): CompiledType {
    const type = this.byName.get(name);
    if (!type)
      throw new P3Error(ErrorCode.UnknownEntityType, `unknown entity type "${name}"`, { detail: name });
    return type;
  }

  types(): IterableIterator<CompiledType> {
    return this.byName.values();
  }
}
