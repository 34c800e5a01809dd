import { ErrorCode, fail, ok, type Result } from './errors.js';
import { isForbiddenKey, isJsonValue, type JsonValue } from './json-value.js';

export const DataType = {
  Number: 'number',
  Integer: 'integer',
  Boolean: 'boolean',
  String: 'string',
  Json: 'json',
} as const;
export type DataType = (typeof DataType)[keyof typeof DataType];

/**
 * Who may write a field:
 * - `client`: the client owning the entity (and server logic);
 * - `server`: server logic only (the default: secure unless opened up);
 * - `seed`: set once when the entity is created (by its creator), read-only afterwards.
 */
export const AccessControl = { Client: 'client', Server: 'server', Seed: 'seed' } as const;
export type AccessControl = (typeof AccessControl)[keyof typeof AccessControl];

/** A field value as stored and sent. `json` fields hold any JsonValue. */
export type FieldValue = JsonValue;

export interface FieldSpec {
  readonly dataType: DataType;
  /** Lower bound for `number`/`integer`. Server logic writes are clamped; client writes outside are refused. */
  readonly min?: number;
  readonly max?: number;
  /** Clients interpolate this numeric field between authoritative frames. */
  readonly interpolate?: boolean;
  /** Default `server`. */
  readonly accessControl?: AccessControl;
  /** Default true. `false` keeps the field on the server: never in frames, bootstraps or client snapshots (seed 004). */
  readonly replicable?: boolean;
  /** Value given at creation when the creator does not set one. Defaults: 0, false, '', null, or `min` when 0 is out of range. */
  readonly default?: FieldValue;
  /** `string`: maximum length in characters (default 1024). `json`: maximum serialized length (default 8192). */
  readonly maxLength?: number;
  /**
   * Binary codec step for `number` fields. With `min`/`max` the default step is (max - min) / 65535 (16 bits);
   * without bounds the default is full float64.
   */
  readonly precision?: number;
}

export interface EntityTypeSpec {
  readonly fields: Readonly<Record<string, FieldSpec>>;
  /** Entities of this type are removed when the connection that owns them ends. */
  readonly connectionBound?: boolean;
}

/** Entity types of a world, keyed by type name. */
export type WorldSchema = Readonly<Record<string, EntityTypeSpec>>;

export const schemaLimits = {
  maxTypes: 256,
  maxFieldsPerType: 128,
  maxNameLength: 64,
  defaultStringLength: 1024,
  defaultJsonLength: 8192,
  maxStringLength: 1 << 16,
} as const;

/** Names that would collide with entity metadata in frames and views. */
const reservedFieldNames = new Set(['id', 'typeName', 'owner', 'input', 'created']);
const namePattern = /^[A-Za-z][A-Za-z0-9_]*$/;

export function isValidName(name: string): boolean {
  return name.length <= schemaLimits.maxNameLength && namePattern.test(name) && !isForbiddenKey(name);
}

/** Checks a schema written by a developer or received from a server. Returns it unchanged when valid. */
export function validateSchema(schema: unknown): Result<WorldSchema> {
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) {
    return fail(ErrorCode.InvalidSchema, 'schema must be an object of entity types');
  }
  const types = Object.keys(schema);
  if (types.length > schemaLimits.maxTypes) {
    return fail(ErrorCode.InvalidSchema, `at most ${schemaLimits.maxTypes} entity types`);
  }
  for (const typeName of types) {
    const result = validateEntityType(typeName, (schema as Record<string, unknown>)[typeName]);
    if (!result.ok) return result;
  }
  return ok(schema as WorldSchema);
}

export function validateEntityType(typeName: string, spec: unknown): Result<EntityTypeSpec> {
  if (!isValidName(typeName)) {
    return fail(ErrorCode.InvalidSchema, `invalid entity type name "${typeName}"`, typeName);
  }
  if (spec === null || typeof spec !== 'object') {
    return fail(ErrorCode.InvalidSchema, `entity type "${typeName}" must be an object`, typeName);
  }
  const { fields, connectionBound } = spec as { fields?: unknown; connectionBound?: unknown };
  if (connectionBound !== undefined && typeof connectionBound !== 'boolean') {
    return fail(ErrorCode.InvalidSchema, `${typeName}.connectionBound must be a boolean`, typeName);
  }
  if (fields === null || typeof fields !== 'object' || Array.isArray(fields)) {
    return fail(ErrorCode.InvalidSchema, `${typeName}.fields must be an object`, typeName);
  }
  const names = Object.keys(fields);
  if (names.length > schemaLimits.maxFieldsPerType) {
    return fail(ErrorCode.InvalidSchema, `${typeName} has more than ${schemaLimits.maxFieldsPerType} fields`);
  }
  for (const name of names) {
    const problem = fieldProblem(name, (fields as Record<string, unknown>)[name]);
    if (problem !== undefined) return fail(ErrorCode.InvalidSchema, `${typeName}.${name}: ${problem}`, name);
  }
  return ok(spec as EntityTypeSpec);
}

const dataTypes = new Set<string>(Object.values(DataType));
const accessControls = new Set<string>(Object.values(AccessControl));

function fieldProblem(name: string, spec: unknown): string | undefined {
  if (!isValidName(name)) return 'invalid field name (letters, digits and _, starting with a letter)';
  if (reservedFieldNames.has(name)) return 'reserved field name';
  if (spec === null || typeof spec !== 'object') return 'field spec must be an object';
  const f = spec as Record<string, unknown>;
  if (typeof f.dataType !== 'string' || !dataTypes.has(f.dataType)) return 'unknown dataType';
  const numeric = f.dataType === DataType.Number || f.dataType === DataType.Integer;
  for (const bound of ['min', 'max'] as const) {
    if (f[bound] === undefined) continue;
    if (!numeric) return `${bound} applies to number and integer fields only`;
    if (typeof f[bound] !== 'number' || !Number.isFinite(f[bound])) return `${bound} must be a finite number`;
    if (f.dataType === DataType.Integer && !Number.isSafeInteger(f[bound]))
      return `${bound} must be a safe integer`;
  }
  if (typeof f.min === 'number' && typeof f.max === 'number' && f.min > f.max)
    return 'min is greater than max';
  if (f.interpolate !== undefined && typeof f.interpolate !== 'boolean')
    return 'interpolate must be a boolean';
  if (f.interpolate === true && !numeric) return 'only numeric fields interpolate';
  if (
    f.accessControl !== undefined &&
    (typeof f.accessControl !== 'string' || !accessControls.has(f.accessControl))
  ) {
    return 'accessControl must be client, server or seed';
  }
  if (f.replicable !== undefined && typeof f.replicable !== 'boolean') return 'replicable must be a boolean';
  if (f.maxLength !== undefined) {
    if (f.dataType !== DataType.String && f.dataType !== DataType.Json)
      return 'maxLength applies to string and json';
    if (
      !Number.isSafeInteger(f.maxLength) ||
      (f.maxLength as number) < 1 ||
      (f.maxLength as number) > schemaLimits.maxStringLength
    ) {
      return `maxLength must be an integer from 1 to ${schemaLimits.maxStringLength}`;
    }
  }
  if (f.precision !== undefined) {
    if (f.dataType !== DataType.Number) return 'precision applies to number fields';
    if (typeof f.precision !== 'number' || !(f.precision > 0) || !Number.isFinite(f.precision))
      return 'precision must be > 0';
  }
  if (f.default !== undefined) {
    if (!isJsonValue(f.default)) return 'default must be JSON data';
    return defaultProblem(f, f.default);
  }
  return undefined;
}

/**
 * The default is written into every entity created without the field, past the checks client writes go through:
 * it must itself fit the field (type, min..max, maxLength). Runs after the other options were checked.
 */
function defaultProblem(f: Record<string, unknown>, value: JsonValue): string | undefined {
  const maxLength = typeof f.maxLength === 'number' ? f.maxLength : undefined;
  switch (f.dataType) {
    case DataType.Number:
    case DataType.Integer:
      if (typeof value !== 'number') return 'default must be a number';
      if (f.dataType === DataType.Integer && !Number.isSafeInteger(value))
        return 'default must be a safe integer';
      if ((typeof f.min === 'number' && value < f.min) || (typeof f.max === 'number' && value > f.max)) {
        return 'default is outside min..max';
      }
      return undefined;
    case DataType.Boolean:
      return typeof value === 'boolean' ? undefined : 'default must be a boolean';
    case DataType.String:
      if (typeof value !== 'string') return 'default must be a string';
      return value.length > (maxLength ?? schemaLimits.defaultStringLength)
        ? 'default is longer than maxLength'
        : undefined;
    default:
      return JSON.stringify(value).length > (maxLength ?? schemaLimits.defaultJsonLength)
        ? 'default is longer than maxLength'
        : undefined;
  }
}

/** The schema as clients see it: non-replicable fields are removed (their names never leave the server). */
export function toWireSchema(schema: WorldSchema): WorldSchema {
  const wire: Record<string, EntityTypeSpec> = {};
  for (const [typeName, spec] of Object.entries(schema)) {
    const fields: Record<string, FieldSpec> = {};
    for (const [name, field] of Object.entries(spec.fields)) {
      if (field.replicable !== false) fields[name] = field;
    }
    wire[typeName] =
      spec.connectionBound === undefined ? { fields } : { fields, connectionBound: spec.connectionBound };
  }
  return wire;
}

export function fieldAccess(spec: FieldSpec): AccessControl {
  return spec.accessControl ?? AccessControl.Server;
}

export function isReplicable(spec: FieldSpec): boolean {
  return spec.replicable !== false;
}

/** Maximum length a string or json field may have. */
export function fieldMaxLength(spec: FieldSpec): number {
  if (spec.maxLength !== undefined) return spec.maxLength;
  return spec.dataType === DataType.Json ? schemaLimits.defaultJsonLength : schemaLimits.defaultStringLength;
}
