import {
  AccessControl,
  ErrorCode,
  P3Error,
  fieldAccess,
  isJsonValue,
  isUuid,
  isValidName,
  messageLimits,
  type EntityFields,
  type FieldValue,
  type InputState,
  type JsonValue,
  type WorldSchema,
} from '@p3/protocol';
import { coerceFieldValue } from '@p3/engine';

/**
 * Client-side checks of writes against the room's wire schema, so mistakes throw at the call site instead of
 * coming back as rejections: numbers are clamped to min/max (the server refuses out-of-range client values),
 * and what the schema forbids throws a P3Error with the engine's code (UNKNOWN_ENTITY_TYPE, UNKNOWN_FIELD,
 * ACCESS_DENIED for `server` fields, SEED_FIELD for `seed` fields after creation, FIELD_TYPE, OUT_OF_RANGE for
 * strings too long). Without a schema (before the first welcome, no world definition) data passes unchanged and
 * the server decides. Ownership is left to the server: it can change between now and the op's frame.
 */
export function checkWrite(
  schema: WorldSchema | undefined,
  typeName: string | undefined,
  data: unknown,
  creating: boolean,
): EntityFields {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new P3Error(ErrorCode.InvalidMessage, 'entity data must be an object of fields');
  }
  const names = Object.keys(data);
  if (names.length > messageLimits.maxDataKeys)
    throw new P3Error(ErrorCode.InvalidMessage, `at most ${messageLimits.maxDataKeys} fields per write`);
  const type = schema !== undefined && typeName !== undefined ? schema[typeName] : undefined;
  if (schema !== undefined && typeName !== undefined && type === undefined) {
    throw new P3Error(ErrorCode.UnknownEntityType, `unknown entity type "${typeName.slice(0, 64)}"`, {
      detail: typeName.slice(0, 64),
    });
  }
  const out: Record<string, FieldValue> = {};
  for (const name of names) {
    const value = (data as Record<string, unknown>)[name];
    if (!isValidName(name))
      throw new P3Error(ErrorCode.UnknownField, `"${name.slice(0, 64)}" is not a valid field name`, {
        detail: name.slice(0, 64),
      });
    if (type === undefined) {
      if (!isJsonValue(value))
        throw new P3Error(ErrorCode.FieldType, `${name} must be JSON data`, { detail: name });
      out[name] = value;
      continue;
    }
    const spec = type.fields[name];
    if (spec === undefined)
      throw new P3Error(ErrorCode.UnknownField, `${typeName} has no field "${name}"`, { detail: name });
    const access = fieldAccess(spec);
    if (access === AccessControl.Server)
      throw new P3Error(ErrorCode.AccessDenied, `${typeName}.${name} is written by the server only`, {
        detail: name,
      });
    if (access === AccessControl.Seed && !creating)
      throw new P3Error(ErrorCode.SeedField, `${typeName}.${name} is set at creation only`, { detail: name });
    const coerced = coerceFieldValue(name, spec, value, 'clamp');
    if (!coerced.ok) throw coerced.error;
    out[name] = coerced.value;
  }
  return out;
}

export function checkEntityId(entityId: unknown): string {
  if (!isUuid(entityId)) throw new P3Error(ErrorCode.InvalidEntityId, 'entity ids are lowercase UUIDs');
  return entityId;
}

export function checkInput(input: unknown): InputState {
  if (input === null || typeof input !== 'object' || Array.isArray(input))
    throw new P3Error(ErrorCode.InvalidMessage, 'input must be an object of booleans');
  const names = Object.keys(input);
  if (names.length > messageLimits.maxInputKeys)
    throw new P3Error(ErrorCode.InvalidMessage, `at most ${messageLimits.maxInputKeys} inputs per write`);
  const out: InputState = {};
  for (const name of names) {
    const value = (input as Record<string, unknown>)[name];
    if (!isValidName(name))
      throw new P3Error(ErrorCode.InvalidMessage, `input name "${name.slice(0, 32)}" is not a valid name`);
    if (typeof value !== 'boolean')
      throw new P3Error(ErrorCode.FieldType, `input ${name} must be a boolean`, { detail: name });
    out[name] = value;
  }
  return out;
}

export function checkEvent(event: unknown): { name: string; type: string; data: JsonValue } {
  const e = (event ?? {}) as { name?: unknown; type?: unknown; data?: unknown };
  const max = messageLimits.maxEventNameLength;
  if (typeof e.name !== 'string' || e.name.length === 0 || e.name.length > max)
    throw new P3Error(ErrorCode.InvalidMessage, `event name must have 1 to ${max} characters`);
  if (typeof e.type !== 'string' || e.type.length === 0 || e.type.length > max)
    throw new P3Error(ErrorCode.InvalidMessage, `event type must have 1 to ${max} characters`);
  const data = e.data === undefined ? null : e.data;
  if (!isJsonValue(data)) throw new P3Error(ErrorCode.InvalidMessage, 'event data must be JSON data');
  return { name: e.name, type: e.type, data };
}

/**
 * The part of `data` the schema accepts (used when a queued op, written before the schema was known, cannot be
 * encoded once it is: keeping the op with the refused fields removed keeps sequence numbers gap-free).
 */
export function acceptedFields(
  schema: WorldSchema,
  typeName: string | undefined,
  data: EntityFields,
  creating: boolean,
): EntityFields {
  const type = typeName === undefined ? undefined : schema[typeName];
  if (type === undefined) return {};
  const out: Record<string, FieldValue> = {};
  for (const [name, value] of Object.entries(data)) {
    const spec = type.fields[name];
    if (
      spec === undefined ||
      fieldAccess(spec) === AccessControl.Server ||
      (!creating && fieldAccess(spec) === AccessControl.Seed)
    )
      continue;
    const coerced = coerceFieldValue(name, spec, value, 'clamp');
    if (coerced.ok) out[name] = coerced.value;
  }
  return out;
}
