import {
  AccessControl,
  DataType,
  ErrorCode,
  P3Error,
  fail,
  fieldAccess,
  ok,
  type EntityFields,
  type FieldValue,
  type Result,
} from '@p3/protocol';
import type { CompiledType } from './compiled-schema.js';
import { coerceFieldValue } from './field-value.js';

/**
 * Checks data a client wants to write (seed 004 authority). At creation a client may set `client` and `seed`
 * fields; afterwards only `client` fields of entities it owns. `server` and non-replicable fields are never
 * client-writable (non-replicable names are reported as unknown: clients never learn them). Values outside
 * min/max are refused, not clamped (see field-value.ts), so valid data passes unchanged: the result is `data`
 * itself (the submit hot path copies nothing).
 */
export function checkClientData(
  type: CompiledType,
  data: EntityFields,
  creating: boolean,
): Result<EntityFields> {
  // for-in, not Object.keys: this runs for every client op, and the keys array was a tenth of its allocations.
  // Decoded data has no inherited enumerable keys (both codecs build own properties only).
  for (const name in data) {
    const spec = type.fields.get(name);
    if (!spec || !type.replicable.has(name)) {
      return fail(ErrorCode.UnknownField, `${type.name} has no field "${name.slice(0, 64)}"`, name);
    }
    const access = fieldAccess(spec);
    if (access === AccessControl.Server) {
      return fail(ErrorCode.AccessDenied, `${type.name}.${name} is written by the server only`, name);
    }
    if (access === AccessControl.Seed && !creating) {
      return fail(ErrorCode.SeedField, `${type.name}.${name} is set at creation only`, name);
    }
    const value = data[name];
    // The common case, a finite number in range, is checked without allocating coerceFieldValue's Result.
    if (spec.dataType === DataType.Number && typeof value === 'number' && Number.isFinite(value)) {
      if ((spec.min === undefined || value >= spec.min) && (spec.max === undefined || value <= spec.max))
        continue;
    }
    const coerced = coerceFieldValue(name, spec, value, 'reject');
    if (!coerced.ok) return coerced;
  }
  return ok(data);
}

/**
 * Checks data written by server code: any field, numbers clamped to min/max. `seed` fields stay read-only after
 * creation for the server too ([WORLD-16]): `world.updateEntity` throws SEED_FIELD to its caller, and a tick's
 * `entity.set` throws it into the tick logic (uncaught, it is the tick's reported error); the value never changes.
 * Throws P3Error: a wrong type from server code is a bug to surface, not input.
 */
export function checkServerData(type: CompiledType, data: EntityFields, creating: boolean): EntityFields {
  const out: Record<string, FieldValue> = {};
  for (const name of Object.keys(data)) {
    out[name] = checkServerField(type, name, data[name], creating);
  }
  return out;
}

export function checkServerField(
  type: CompiledType,
  name: string,
  value: unknown,
  creating: boolean,
): FieldValue {
  const spec = type.fields.get(name);
  if (!spec)
    throw new P3Error(ErrorCode.UnknownField, `${type.name} has no field "${name}"`, { detail: name });
  if (!creating && fieldAccess(spec) === AccessControl.Seed) {
    throw new P3Error(ErrorCode.SeedField, `${type.name}.${name} is set at creation only`, { detail: name });
  }
  // Tick hot path: a finite number for a number field is clamped here without allocating a Result.
  if (spec.dataType === DataType.Number && typeof value === 'number' && Number.isFinite(value)) {
    return spec.min !== undefined && value < spec.min
      ? spec.min
      : spec.max !== undefined && value > spec.max
        ? spec.max
        : value;
  }
  const result = coerceFieldValue(name, spec, value, 'clamp');
  if (!result.ok) throw result.error;
  return result.value;
}
