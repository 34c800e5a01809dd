import { ErrorCode, P3Error } from '../errors.js';
import { isForbiddenKey, parseJson, type JsonValue } from '../json-value.js';
import { readUuid } from './uuid-bytes.js';

// `ignoreBOM: true` keeps a leading U+FEFF in the string instead of silently dropping it.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

const f64Bytes = new Uint8Array(8);
const emptyBytes = new Uint8Array(0);
const f64View = new DataView(f64Bytes.buffer);

/** Value `zigzag()` returns for the escape written by `ByteWriter.zigzagEscape()` (not a safe integer). */
export const zigzagEscapeValue = -(2 ** 53);

/** Largest number of keys in one JSON object of a payload (as in the JSON codec). */
const maxJsonKeys = 4096;

/**
 * Reads untrusted bytes. Every read checks the bytes remaining first and throws a P3Error with a precise code
 * (TRUNCATED, VARINT_OVERFLOW, MALFORMED, NOT_FINITE, ...); the decoder entry point catches it once (`guard`).
 * No read allocates more than the bytes it has checked are there.
 */
export class ByteReader {
  private bytes: Uint8Array;
  private pos = 0;
  private end: number;

  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
    this.end = bytes.byteLength;
  }

  /** Reads `bytes` from the start: one reader per decoder instead of one per message. */
  reset(bytes: Uint8Array): this {
    this.bytes = bytes;
    this.pos = 0;
    this.end = bytes.byteLength;
    return this;
  }

  /** Drops the reference to the last input (a uWS message buffer is neutered once its callback returns). */
  release(): void {
    this.bytes = emptyBytes;
    this.pos = 0;
    this.end = 0;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  get offset(): number {
    return this.pos;
  }

  u8(what: string): number {
    if (this.pos >= this.end) truncated(what);
    return this.bytes[this.pos++] as number;
  }

  /** One byte that must be 0 or 1. */
  bool(what: string): boolean {
    const b = this.u8(what);
    if (b > 1) malformed(`${what} must be 0 or 1`, what);
    return b === 1;
  }

  /** A byte of flags; bits outside `allowed` are MALFORMED (room for later versions, never silently ignored). */
  flags(what: string, allowed: number): number {
    const b = this.u8(what);
    if ((b & ~allowed) !== 0) malformed(`${what} has unknown bits`, what);
    return b;
  }

  /** Unsigned LEB128, at most 9 bytes (8 continuation bytes), value at most 2^53-1. */
  varint(what: string): number {
    if (this.pos < this.end) {
      const b = this.bytes[this.pos] as number;
      if (b < 0x80) {
        this.pos++;
        return b;
      }
    }
    return this.continueVarint(0, 1, 9, what);
  }

  /** Zigzag varint of a safe integer (or `zigzagEscapeValue`). */
  zigzag(what: string): number {
    const first = this.u8(what);
    const sign = first & 1;
    const low = (first & 0x7f) >>> 1;
    const magnitude = first < 0x80 ? low : this.continueVarint(low, 0x40, 8, what);
    return sign === 1 ? -magnitude - 1 : magnitude;
  }

  /** A float64 that must be finite (NaN and Infinity bit patterns are NOT_FINITE). */
  f64(what: string): number {
    if (this.end - this.pos < 8) truncated(what);
    // Through an 8-byte scratch view: a DataView over every message read would cost more than all its other reads.
    for (let i = 0; i < 8; i++) f64Bytes[i] = this.bytes[this.pos + i] as number;
    const value = f64View.getFloat64(0, true);
    this.pos += 8;
    if (!Number.isFinite(value)) {
      throw new P3Error(ErrorCode.NotFinite, `${what} must be a finite number`, { detail: what });
    }
    return value;
  }

  /** An unsigned little-endian integer of `size` bytes (0 to 7). */
  fixed(size: number, what: string): number {
    if (this.end - this.pos < size) truncated(what);
    let value = 0;
    let scale = 1;
    for (let i = 0; i < size; i++) {
      value += (this.bytes[this.pos++] as number) * scale;
      scale *= 256;
    }
    return value;
  }

  /** Varint byte length, then UTF-8; invalid UTF-8 is MALFORMED. */
  string(what: string): string {
    const length = this.varint(what);
    if (length > this.end - this.pos) truncated(what);
    const start = this.pos;
    this.pos += length;
    if (length <= 32) {
      let text = '';
      let i = start;
      for (; i < start + length; i++) {
        const c = this.bytes[i] as number;
        if (c >= 0x80) break;
        text += String.fromCharCode(c);
      }
      if (i === start + length) return text;
    }
    try {
      return utf8.decode(this.bytes.subarray(start, start + length));
    } catch {
      return malformed(`${what} is not valid UTF-8`, what);
    }
  }

  /** A name used as an object key (input names, untyped field names): never a prototype key. */
  key(what: string): string {
    const key = this.string(what);
    if (isForbiddenKey(key)) {
      throw new P3Error(ErrorCode.PrototypeKey, `forbidden key "${key}" in ${what}`, { detail: key });
    }
    return key;
  }

  uuid(what: string): string {
    if (this.end - this.pos < 16) truncated(what);
    const id = readUuid(this.bytes, this.pos);
    this.pos += 16;
    return id;
  }

  /**
   * A count of items that each take at least `minItemBytes`: more than `max` is INVALID_MESSAGE, more than the
   * remaining bytes can hold is TRUNCATED, so no loop runs longer than the input allows.
   */
  count(what: string, max: number, minItemBytes: number): number {
    const n = this.varint(what);
    if (n > max) {
      throw new P3Error(ErrorCode.InvalidMessage, `${what} has more than ${max} items`, { detail: what });
    }
    if (n * minItemBytes > this.end - this.pos) truncated(what);
    return n;
  }

  /** Length-prefixed JSON text, parsed with the safe parser (depth, keys, prototype keys, finite numbers). */
  json(what: string, maxDepth: number): JsonValue {
    const text = this.string(what);
    const parsed = parseJson(text, {
      maxLength: text.length,
      maxDepth: Math.max(0, maxDepth),
      maxKeys: maxJsonKeys,
    });
    if (!parsed.ok) throw parsed.error;
    return parsed.value;
  }

  /** The message must end here. */
  expectEnd(): void {
    if (this.pos !== this.end) {
      throw new P3Error(ErrorCode.TrailingBytes, `${this.end - this.pos} bytes after the end of the message`);
    }
  }

  /** Reads the continuation of a LEB128 value: `value` so far, `scale` of the next group, `maxBytes` left. */
  private continueVarint(value: number, scale: number, maxBytes: number, what: string): number {
    const bytes = this.bytes;
    let pos = this.pos;
    let result = value;
    let factor = scale;
    for (let i = 0; ; i++) {
      if (i >= maxBytes) {
        throw new P3Error(ErrorCode.VarintOverflow, `${what}: varint longer than 9 bytes`, { detail: what });
      }
      if (pos >= this.end) truncated(what);
      const b = bytes[pos++] as number;
      result += (b & 0x7f) * factor;
      if (b < 0x80) break;
      factor *= 0x80;
    }
    if (result > Number.MAX_SAFE_INTEGER) {
      throw new P3Error(ErrorCode.VarintOverflow, `${what}: varint past 2^53-1`, { detail: what });
    }
    this.pos = pos;
    return result;
  }
}

export function truncated(what: string): never {
  throw new P3Error(ErrorCode.Truncated, `message ends inside ${what}`, { detail: what });
}

export function malformed(message: string, detail?: string): never {
  throw new P3Error(ErrorCode.Malformed, message, detail === undefined ? {} : { detail });
}
