import { ErrorCode, P3Error } from '../errors.js';
import { isJsonValue, type JsonValue } from '../json-value.js';
import { messageLimits, type EntityFields } from '../messages.js';
import { malformed, type ByteReader } from './byte-reader.js';
import type { ByteWriter } from './byte-writer.js';

/**
 * The fallback for op data whose entity type the client codec does not know: varint count, then per field
 * its name and its value as JSON text. Larger than a typed field set, but encoding never fails for it.
 */
export function writeUntypedFields(w: ByteWriter, data: EntityFields): void {
  const names = Object.keys(data);
  w.varint(names.length, 'field count');
  for (const name of names) {
    const value = data[name];
    if (!isJsonValue(value)) {
      throw new P3Error(ErrorCode.FieldType, `field "${name.slice(0, 64)}" must be JSON data`, {
        detail: name.slice(0, 64),
      });
    }
    w.string(name, 'field name');
    w.string(JSON.stringify(value), 'field value');
  }
}

export function readUntypedFields(r: ByteReader, jsonDepth: number): Record<string, JsonValue> {
  // Each entry takes at least 2 bytes: the name's length prefix and the value's.
  const count = r.count('fields', messageLimits.maxDataKeys, 2);
  const out: Record<string, JsonValue> = {};
  for (let i = 0; i < count; i++) {
    const name = r.key('field name');
    if (Object.hasOwn(out, name)) malformed(`duplicate field "${name.slice(0, 32)}"`, 'data');
    out[name] = r.json(name, jsonDepth);
  }
  return out;
}
