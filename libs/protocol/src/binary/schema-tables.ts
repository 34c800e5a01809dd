import { ErrorCode, P3Error } from '../errors.js';
import { DataType, toWireSchema, validateSchema, type FieldSpec, type WorldSchema } from '../schema.js';
import { planNumber, type NumberPlan } from './quantize.js';

/** How one field value travels; chosen once per field from its spec. */
export const FieldKind = {
  Boolean: 0,
  /** integer with `min`: varint of (v - min). */
  IntOffset: 1,
  /** integer without `min`: zigzag varint. */
  IntZigzag: 2,
  /** number: see NumberPlan. */
  Number: 3,
  String: 4,
  Json: 5,
} as const;
export type FieldKind = (typeof FieldKind)[keyof typeof FieldKind];

export interface CompiledField {
  readonly name: string;
  readonly kind: FieldKind;
  /** IntOffset: the field's min. */
  readonly min: number;
  /** Number: how the value is quantized. */
  readonly number: NumberPlan;
  /** Position among every field of the schema: a codec keeps per-field state (float-runs.ts) in arrays by it. */
  readonly slot: number;
}

export interface CompiledType {
  readonly name: string;
  /** Position in Object.keys(schema): the type index on the wire. */
  readonly index: number;
  /** In Object.keys(spec.fields) order: bit i of a field set is fields[i]. */
  readonly fields: readonly CompiledField[];
  readonly fieldIndex: ReadonlyMap<string, number>;
  /** 7-bit groups of a full field set (at least 1). */
  readonly groups: number;
}

/**
 * A world schema compiled for the binary codec: type indexes, field order and each field's encoding.
 * Built from the wire schema (non-replicable fields removed) so that a server codec and a client codec that
 * learned the schema from `welcome` agree on every index and bit.
 */
export class SchemaTables {
  /** The wire schema the tables were built from. */
  readonly schema: WorldSchema;
  /** Its JSON text, as carried by `welcome`. */
  readonly json: string;
  readonly types: readonly CompiledType[];
  private readonly byName: ReadonlyMap<string, CompiledType>;

  constructor(schema: WorldSchema) {
    const valid = validateSchema(schema);
    if (!valid.ok) throw valid.error;
    this.schema = toWireSchema(valid.value);
    this.json = JSON.stringify(this.schema);
    const types: CompiledType[] = [];
    let slots = 0;
    const byName = new Map<string, CompiledType>();
    for (const [name, spec] of Object.entries(this.schema)) {
      const fields = Object.entries(spec.fields).map(([fieldName, field]) =>
        compileField(fieldName, field, slots++),
      );
      const type: CompiledType = {
        name,
        index: types.length,
        fields,
        fieldIndex: new Map(fields.map((f, i) => [f.name, i])),
        groups: Math.max(1, Math.ceil(fields.length / 7)),
      };
      types.push(type);
      byName.set(name, type);
    }
    this.types = types;
    this.byName = byName;
  }

  /** The type of an entity, or a P3Error(UNKNOWN_ENTITY_TYPE) (encoders: a type missing from the schema). */
  typeNamed(name: string): CompiledType {
    const type = this.byName.get(name);
    if (type === undefined) {
      throw new P3Error(
        ErrorCode.UnknownEntityType,
        `entity type "${String(name).slice(0, 64)}" is not in the schema`,
        {
          detail: String(name).slice(0, 64),
        },
      );
    }
    return type;
  }

  findType(name: string): CompiledType | undefined {
    return this.byName.get(name);
  }

  /** The type at a wire index, or a P3Error(UNKNOWN_ENTITY_TYPE) (decoders: an index out of range). */
  typeAt(index: number): CompiledType {
    const type = this.types[index];
    if (type === undefined) {
      throw new P3Error(ErrorCode.UnknownEntityType, `type index ${index} is out of range`, {
        detail: 'typeIndex',
      });
    }
    return type;
  }
}

function compileField(name: string, spec: FieldSpec, slot: number): CompiledField {
  const number = planNumber(spec);
  switch (spec.dataType) {
    case DataType.Boolean:
      return { name, kind: FieldKind.Boolean, min: 0, number, slot };
    case DataType.Integer:
      return spec.min === undefined
        ? { name, kind: FieldKind.IntZigzag, min: 0, number, slot }
        : { name, kind: FieldKind.IntOffset, min: spec.min, number, slot };
    case DataType.Number:
      return { name, kind: FieldKind.Number, min: 0, number, slot };
    case DataType.String:
      return { name, kind: FieldKind.String, min: 0, number, slot };
    case DataType.Json:
      return { name, kind: FieldKind.Json, min: 0, number, slot };
  }
}
