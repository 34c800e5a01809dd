import { ErrorCode, fail, ok, type Result } from './errors.js';

/** Any value JSON can carry. `json` fields and event payloads hold these. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** Limits applied before and while parsing untrusted JSON. */
export interface JsonLimits {
  /** Maximum input length in UTF-16 code units (checked before parsing). */
  readonly maxLength: number;
  /** Maximum nesting of arrays and objects (checked by a scan before parsing, so the parser never recurses deeply). */
  readonly maxDepth: number;
  /** Maximum number of keys in one object. */
  readonly maxKeys: number;
}

export const defaultJsonLimits: JsonLimits = { maxLength: 1 << 20, maxDepth: 32, maxKeys: 10_000 };

/** Keys that must never reach an object of ours: they reach prototypes when merged or spread. */
const forbiddenKeys = new Set(['__proto__', 'constructor', 'prototype']);

export function isForbiddenKey(key: string): boolean {
  return forbiddenKeys.has(key);
}

/**
 * Parses untrusted JSON text. Never throws: size and depth are checked before `JSON.parse` runs, then the
 * result is walked to refuse prototype keys and non-finite numbers (`1e999` parses to Infinity).
 */
export function parseJson(text: string, limits: JsonLimits = defaultJsonLimits): Result<JsonValue> {
  if (text.length > limits.maxLength) {
    return fail(
      ErrorCode.TooLarge,
      `message of ${text.length} characters exceeds the limit of ${limits.maxLength}`,
    );
  }
  const depth = scanDepth(text, limits.maxDepth);
  if (depth > limits.maxDepth) {
    return fail(ErrorCode.TooDeep, `nesting deeper than ${limits.maxDepth}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    return fail(
      ErrorCode.Malformed,
      `invalid JSON: ${cause instanceof Error ? cause.message : 'parse error'}`,
    );
  }
  const problem = checkJsonValue(parsed, limits.maxKeys);
  return problem === undefined ? ok(parsed as JsonValue) : problem;
}

/** Scans nesting depth outside strings without recursion; stops early once past the limit. */
function scanDepth(text: string, limit: number): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      depth++;
      if (depth > max) {
        max = depth;
        if (max > limit) return max;
      }
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

/** Walks a parsed value iteratively; returns a failure for the first forbidden key or non-finite number. */
function checkJsonValue(root: unknown, maxKeys: number): Result<never> | undefined {
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const value = stack.pop();
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) return fail(ErrorCode.NotFinite, 'numbers must be finite');
    } else if (Array.isArray(value)) {
      for (const item of value) stack.push(item);
    } else if (value !== null && typeof value === 'object') {
      const keys = Object.keys(value);
      if (keys.length > maxKeys) return fail(ErrorCode.TooLarge, `object with more than ${maxKeys} keys`);
      for (const key of keys) {
        if (forbiddenKeys.has(key)) return fail(ErrorCode.PrototypeKey, `forbidden key "${key}"`, key);
        stack.push((value as Record<string, unknown>)[key]);
      }
    }
  }
  return undefined;
}

/**
 * Checks that a value from trusted code is JSON-safe (finite numbers, plain data, bounded depth) before it is
 * stored or sent. Returns false for functions, undefined, symbols, bigints, cycles beyond the depth.
 */
export function isJsonValue(value: unknown, maxDepth = 32): value is JsonValue {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
  if (typeof value === 'number') return Number.isFinite(value);
  if (maxDepth <= 0 || typeof value !== 'object') return false;
  if (Array.isArray(value)) return value.every((item) => isJsonValue(item, maxDepth - 1));
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return false;
  for (const key of Object.keys(value)) {
    if (forbiddenKeys.has(key)) return false;
    if (!isJsonValue((value as Record<string, unknown>)[key], maxDepth - 1)) return false;
  }
  return true;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
