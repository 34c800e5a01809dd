import { ErrorCode, P3Error } from '../errors.js';
import { isJsonValue, type JsonValue } from '../json-value.js';
import type { EntityFields } from '../messages.js';
import { schemaLimits } from '../schema.js';
import { malformed, zigzagEscapeValue, type ByteReader } from './byte-reader.js';
import type { ByteWriter } from './byte-writer.js';
import { FloatRuns } from './float-runs.js';
import { NumberEncoding, dequantize, quantize } from './quantize.js';
import { FieldKind, type CompiledField, type CompiledType } from './schema-tables.js';

const maxGroups = Math.ceil(schemaLimits.maxFieldsPerType / 7);

/**
 * Writes and reads a set of changed fields of one entity type: a bitset over the type's field order
 * (little-endian 7-bit groups, high bit = another group follows), then each present value in field order,
 * encoded by its spec. One instance per codec holds the scratch bitset, so the hot path allocates nothing.
 */
export class FieldSetCodec {
  private readonly groups = new Uint8Array(maxGroups);
  /** Runs of the unbounded numbers of the message being written or read (see float-runs.ts). */
  private readonly floats = new FloatRuns();

  /** Every message starts with this: what one message's values share ends with it. */
  begin(): void {
    this.floats.begin();
  }

  /** Encoders get trusted input: an unknown name or a value of the wrong type throws a P3Error. */
  write(w: ByteWriter, type: CompiledType, data: EntityFields): void {
    if (type.groups <= 4) {
      // Up to 28 fields the bitset is an int32 mask, and its 7-bit group chain is the LEB128 varint of the mask.
      // for-in: no keys array per entity and frame (the engine builds fields as own properties only).
      let mask = 0;
      for (const key in data) mask |= 1 << this.indexOf(type, key);
      w.varint(mask);
      while (mask !== 0) {
        const i = 31 - Math.clz32(mask & -mask);
        mask &= mask - 1;
        const field = type.fields[i] as CompiledField;
        writeValue(w, field, data[field.name], type, this.floats);
      }
      return;
    }
    const groups = this.groups;
    groups.fill(0, 0, type.groups);
    for (const key in data) {
      const i = this.indexOf(type, key);
      groups[(i / 7) | 0] = (groups[(i / 7) | 0] as number) | (1 << (i % 7));
    }
    let last = type.groups - 1;
    while (last > 0 && groups[last] === 0) last--;
    for (let g = 0; g < last; g++) w.u8((groups[g] as number) | 0x80);
    w.u8(groups[last] as number);
    for (let g = 0; g <= last; g++) {
      let bits = groups[g] as number;
      while (bits !== 0) {
        const bit = 31 - Math.clz32(bits & -bits);
        bits &= bits - 1;
        const field = type.fields[g * 7 + bit] as CompiledField;
        writeValue(w, field, data[field.name], type, this.floats);
      }
    }
  }

  private indexOf(type: CompiledType, key: string): number {
    const i = type.fieldIndex.get(key);
    if (i === undefined) {
      throw new P3Error(ErrorCode.UnknownField, `"${key.slice(0, 64)}" is not a field of ${type.name}`, {
        detail: key.slice(0, 64),
      });
    }
    return i;
  }

  /** Decoders get hostile input: a bit past the type's fields is UNKNOWN_FIELD, values are read by spec. */
  read(r: ByteReader, type: CompiledType, jsonDepth: number): Record<string, JsonValue> {
    const groups = this.groups;
    let count = 0;
    for (;;) {
      const b = r.u8('field set');
      if (count >= type.groups) {
        throw new P3Error(ErrorCode.UnknownField, `field set longer than the fields of ${type.name}`, {
          detail: type.name,
        });
      }
      groups[count++] = b & 0x7f;
      if (b < 0x80) break;
    }
    const out: Record<string, JsonValue> = {};
    for (let g = 0; g < count; g++) {
      let bits = groups[g] as number;
      while (bits !== 0) {
        const bit = 31 - Math.clz32(bits & -bits);
        bits &= bits - 1;
        const field = type.fields[g * 7 + bit];
        if (field === undefined) {
          throw new P3Error(
            ErrorCode.UnknownField,
            `field bit ${g * 7 + bit} is not a field of ${type.name}`,
            {
              detail: type.name,
            },
          );
        }
        out[field.name] = readValue(r, field, jsonDepth, this.floats);
      }
    }
    return out;
  }
}

function fieldType(field: CompiledField, type: CompiledType, expected: string): never {
  throw new P3Error(ErrorCode.FieldType, `${type.name}.${field.name} must be ${expected}`, {
    detail: field.name,
  });
}

function writeValue(
  w: ByteWriter,
  field: CompiledField,
  value: unknown,
  type: CompiledType,
  floats: FloatRuns,
): void {
  switch (field.kind) {
    case FieldKind.Boolean:
      if (typeof value !== 'boolean') fieldType(field, type, 'a boolean');
      w.u8(value ? 1 : 0);
      return;
    case FieldKind.IntOffset:
      if (!Number.isSafeInteger(value)) fieldType(field, type, 'a safe integer');
      if ((value as number) < field.min || !Number.isSafeInteger((value as number) - field.min)) {
        // v - min has no unsigned varint; the engine refuses such writes anyway.
        throw new P3Error(ErrorCode.OutOfRange, `${type.name}.${field.name} is below its min ${field.min}`, {
          detail: field.name,
        });
      }
      w.varint((value as number) - field.min);
      return;
    case FieldKind.IntZigzag:
      if (!Number.isSafeInteger(value)) fieldType(field, type, 'a safe integer');
      w.zigzag(value as number);
      return;
    case FieldKind.Number: {
      if (typeof value !== 'number' || !Number.isFinite(value)) fieldType(field, type, 'a finite number');
      const plan = field.number;
      if (plan.encoding === NumberEncoding.Quantized) {
        w.fixed(quantize(plan, value), plan.bytes);
      } else if (plan.encoding === NumberEncoding.Scaled) {
        const q = Math.round(value / plan.step);
        if (Number.isSafeInteger(q)) {
          w.zigzag(q);
        } else {
          w.zigzagEscape();
          w.f64(value);
        }
      } else {
        floats.write(w, field, value);
      }
      return;
    }
    case FieldKind.String:
      if (typeof value !== 'string') fieldType(field, type, 'a string');
      w.string(value);
      return;
    case FieldKind.Json:
      if (!isJsonValue(value)) fieldType(field, type, 'JSON data');
      w.string(JSON.stringify(value));
      return;
  }
}

function readValue(r: ByteReader, field: CompiledField, jsonDepth: number, floats: FloatRuns): JsonValue {
  switch (field.kind) {
    case FieldKind.Boolean:
      return r.bool(field.name);
    case FieldKind.IntOffset: {
      const value = field.min + r.varint(field.name);
      if (!Number.isSafeInteger(value)) overflow(field);
      return value;
    }
    case FieldKind.IntZigzag: {
      const value = r.zigzag(field.name);
      if (!Number.isSafeInteger(value)) overflow(field);
      return value;
    }
    case FieldKind.Number: {
      const plan = field.number;
      if (plan.encoding === NumberEncoding.Quantized) {
        return dequantize(plan, r.fixed(plan.bytes, field.name));
      }
      if (plan.encoding === NumberEncoding.Float) return floats.read(r, field);
      const q = r.zigzag(field.name);
      if (q === zigzagEscapeValue) return r.f64(field.name);
      const value = q * plan.step;
      if (!Number.isFinite(value)) {
        throw new P3Error(ErrorCode.NotFinite, `${field.name} must be a finite number`, {
          detail: field.name,
        });
      }
      return value;
    }
    case FieldKind.String:
      return r.string(field.name);
    case FieldKind.Json:
      return r.json(field.name, jsonDepth);
    default:
      return malformed('unknown field kind');
  }
}

function overflow(field: CompiledField): never {
  throw new P3Error(ErrorCode.VarintOverflow, `${field.name} is past the safe integer range`, {
    detail: field.name,
  });
}
