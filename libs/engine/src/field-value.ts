import {
  DataType,
  ErrorCode,
  fail,
  fieldMaxLength,
  isJsonValue,
  ok,
  type FieldSpec,
  type FieldValue,
  type Result,
} from '@p3/protocol';

/**
 * What to do with a number outside the field's min/max:
 * - `reject` for client writes: an out-of-range value is a bug or a cheat, and the SDK clamps before sending;
 * - `clamp` for server logic: physics overshoot must not abort a tick.
 */
export type RangeMode = 'reject' | 'clamp';

/** Checks (and for `clamp`, clamps) a value against its field spec. Never throws. */
export function coerceFieldValue(
  name: string,
  spec: FieldSpec,
  value: unknown,
  mode: RangeMode,
): Result<FieldValue> {
  switch (spec.dataType) {
    case DataType.Number:
    case DataType.Integer: {
      if (typeof value !== 'number')
        return fail(ErrorCode.FieldType, `${name} must be a ${spec.dataType}`, name);
      if (!Number.isFinite(value)) return fail(ErrorCode.NotFinite, `${name} must be finite`, name);
      let v = value;
      if (spec.dataType === DataType.Integer && !Number.isInteger(v)) {
        if (mode === 'reject') return fail(ErrorCode.FieldType, `${name} must be an integer`, name);
        v = Math.round(v);
      }
      if (spec.min !== undefined && v < spec.min) {
        if (mode === 'reject') return fail(ErrorCode.OutOfRange, `${name} must be >= ${spec.min}`, name);
        v = spec.min;
      }
      if (spec.max !== undefined && v > spec.max) {
        if (mode === 'reject') return fail(ErrorCode.OutOfRange, `${name} must be <= ${spec.max}`, name);
        v = spec.max;
      }
      return ok(v);
    }
    case DataType.Boolean:
      return typeof value === 'boolean'
        ? ok(value)
        : fail(ErrorCode.FieldType, `${name} must be a boolean`, name);
    case DataType.String: {
      if (typeof value !== 'string') return fail(ErrorCode.FieldType, `${name} must be a string`, name);
      const max = fieldMaxLength(spec);
      if (value.length > max)
        return fail(ErrorCode.OutOfRange, `${name} is longer than ${max} characters`, name);
      return ok(value);
    }
    case DataType.Json: {
      if (!isJsonValue(value)) return fail(ErrorCode.FieldType, `${name} must be JSON data`, name);
      const max = fieldMaxLength(spec);
      if (JSON.stringify(value).length > max)
        return fail(ErrorCode.OutOfRange, `${name} is larger than ${max} characters`, name);
      return ok(value);
    }
    default:
      return fail(ErrorCode.FieldType, `${name} has an unknown data type`, name);
  }
}

/** The value a field takes when its creator does not set one. */
export function defaultFieldValue(spec: FieldSpec): FieldValue {
  if (spec.default !== undefined) return spec.default;
  switch (spec.dataType) {
    case DataType.Number:
    case DataType.Integer: {
      if (spec.min !== undefined && spec.min > 0) return spec.min;
      if (spec.max !== undefined && spec.max < 0) return spec.max;
      return 0;
    }
    case DataType.Boolean:
      return false;
    case DataType.String:
      return '';
    default:
      return null;
  }
}
