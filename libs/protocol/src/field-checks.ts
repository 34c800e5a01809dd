import { ErrorCode, P3Error } from './errors.js';
import { isForbiddenKey, isPlainObject, type JsonValue } from './json-value.js';

/**
 * Small narrowing helpers for decoders. Each throws a `FieldCheckError` that the decoder entry point
 * catches once and turns into a typed Result: decoders stay readable and never leak other exceptions.
 */
export class FieldCheckError extends P3Error {}

export function invalid(message: string, detail?: string): never {
  throw new FieldCheckError(ErrorCode.InvalidMessage, message, detail === undefined ? {} : { detail });
}

export function asObject(value: unknown, what: string): Record<string, JsonValue> {
  if (!isPlainObject(value)) invalid(`${what} must be an object`, what);
  return value as Record<string, JsonValue>;
}

export function asString(value: unknown, what: string, maxLength: number, minLength = 1): string {
  if (typeof value !== 'string') invalid(`${what} must be a string`, what);
  if (value.length < minLength || value.length > maxLength) {
    invalid(`${what} must have ${minLength} to ${maxLength} characters`, what);
  }
  return value;
}

export function asInt(value: unknown, what: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    invalid(`${what} must be an integer from ${min} to ${max}`, what);
  }
  return value;
}

export function asNumber(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) invalid(`${what} must be a finite number`, what);
  return value;
}

export function asBoolean(value: unknown, what: string): boolean {
  if (typeof value !== 'boolean') invalid(`${what} must be a boolean`, what);
  return value;
}

export function asArray(value: unknown, what: string, maxLength: number): JsonValue[] {
  if (!Array.isArray(value)) invalid(`${what} must be an array`, what);
  if (value.length > maxLength) invalid(`${what} has more than ${maxLength} items`, what);
  return value as JsonValue[];
}

export function optional<T>(value: unknown, read: (v: unknown) => T): T | undefined {
  return value === undefined ? undefined : read(value);
}

/** Lowercase canonical UUID text. A char loop: this runs for every id of every message (a regex costs more). */
export function isUuid(value: unknown): value is string {
  if (typeof value !== 'string' || value.length !== 36) return false;
  for (let i = 0; i < 36; i++) {
    const c = value.charCodeAt(i);
    if (i === 8 || i === 13 || i === 18 || i === 23) {
      if (c !== 0x2d) return false;
    } else if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return true;
}

export function asUuid(value: unknown, what: string): string {
  if (!isUuid(value)) invalid(`${what} must be a lowercase UUID`, what);
  return value;
}

/** An object whose keys are checked names and whose values pass `read`. Keys never reach a prototype. */
export function asRecord<T>(
  value: unknown,
  what: string,
  maxKeys: number,
  read: (v: unknown, key: string) => T,
): Record<string, T> {
  const source = asObject(value, what);
  const keys = Object.keys(source);
  if (keys.length > maxKeys) invalid(`${what} has more than ${maxKeys} keys`, what);
  const out: Record<string, T> = {};
  for (const key of keys) {
    if (isForbiddenKey(key))
      throw new FieldCheckError(ErrorCode.PrototypeKey, `forbidden key "${key}" in ${what}`, { detail: key });
    out[key] = read(source[key], key);
  }
  return out;
}

/** Runs a decoder body, turning FieldCheckErrors into a failed Result and anything else into INVALID_MESSAGE. */
export function guard<T>(body: () => T): { ok: true; value: T } | { ok: false; error: P3Error } {
  try {
    return { ok: true, value: body() };
  } catch (cause) {
    return guardFailure(cause);
  }
}

/** What `guard` returns for a thrown value, for decoders that catch inline (hot paths without a closure). */
export function guardFailure(cause: unknown): { ok: false; error: P3Error } {
  if (cause instanceof P3Error) return { ok: false, error: cause };
  return { ok: false, error: new P3Error(ErrorCode.InvalidMessage, 'invalid message', { cause }) };
}
