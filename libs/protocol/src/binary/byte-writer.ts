import { ErrorCode, P3Error } from '../errors.js';
import { uuidToBytes } from './uuid-bytes.js';

const utf8 = new TextEncoder();
const initialCapacity = 4096;
/** A writer that grew past this for one big message (a welcome) shrinks back afterwards. */
const retainedCapacity = 1 << 20;

/**
 * A growable little-endian byte buffer for one encoder. `reset()` starts a message, `finish()` returns a copy
 * of it, so the buffer is allocated once per codec and only grows (one allocation per encoded message).
 *
 * Encoders get trusted input, but a wrong number would silently corrupt the stream (or, for Infinity, loop
 * forever), so integer writers check their input and throw a P3Error.
 */
export class ByteWriter {
  private bytes = new Uint8Array(initialCapacity);
  private view = new DataView(this.bytes.buffer);
  private pos = 0;

  reset(): void {
    if (this.bytes.byteLength > retainedCapacity) this.allocate(initialCapacity);
    this.pos = 0;
  }

  /** A copy of the bytes written since `reset()`. */
  finish(): Uint8Array {
    return this.bytes.slice(0, this.pos);
  }

  get length(): number {
    return this.pos;
  }

  u8(value: number): void {
    if (this.pos >= this.bytes.byteLength) this.grow(1);
    this.bytes[this.pos++] = value;
  }

  /** Unsigned LEB128 of a safe integer >= 0 (at most 8 bytes). */
  varint(value: number, what = 'value'): void {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new P3Error(ErrorCode.InvalidMessage, `${what} must be an integer from 0 to 2^53-1`, {
        detail: what,
      });
    }
    this.uvarint(value);
  }

  /**
   * Zigzag varint of any safe integer: the sign goes to bit 0 of the first byte, the magnitude (|v|, or -v-1
   * when negative) above it. Written with arithmetic, so magnitudes past 2^31 keep every bit.
   */
  zigzag(value: number, what = 'value'): void {
    if (!Number.isSafeInteger(value)) {
      throw new P3Error(ErrorCode.InvalidMessage, `${what} must be a safe integer`, { detail: what });
    }
    this.signMagnitude(value < 0 ? 1 : 0, value < 0 ? -value - 1 : value);
  }

  /**
   * The zigzag value whose magnitude is 2^53-1 with the sign bit set: no safe integer encodes to it, so
   * readers of scaled numbers take it as "a float64 follows".
   */
  zigzagEscape(): void {
    this.signMagnitude(1, Number.MAX_SAFE_INTEGER);
  }

  f64(value: number): void {
    if (this.pos + 8 > this.bytes.byteLength) this.grow(8);
    this.view.setFloat64(this.pos, value, true);
    this.pos += 8;
  }

  /** An unsigned integer < 2^53 in exactly `size` little-endian bytes (0 to 7). */
  fixed(value: number, size: number): void {
    if (this.pos + size > this.bytes.byteLength) this.grow(size);
    let rest = value;
    for (let i = 0; i < size; i++) {
      const low = rest % 256;
      this.bytes[this.pos++] = low;
      rest = (rest - low) / 256;
    }
  }

  /** Varint byte length, then UTF-8 (lone surrogates become U+FFFD, as in any UTF-8 protocol). */
  string(value: string, what = 'string'): void {
    if (typeof value !== 'string') {
      throw new P3Error(ErrorCode.InvalidMessage, `${what} must be a string`, { detail: what });
    }
    const length = value.length;
    if (length < 0x80) {
      // Fast path: short ASCII (names, ids) is copied byte by byte with a one-byte prefix.
      if (this.pos + 1 + length > this.bytes.byteLength) this.grow(1 + length);
      const start = this.pos;
      let i = 0;
      for (; i < length; i++) {
        const c = value.charCodeAt(i);
        if (c >= 0x80) break;
        this.bytes[start + 1 + i] = c;
      }
      if (i === length) {
        this.bytes[start] = length;
        this.pos = start + 1 + length;
        return;
      }
    }
    const maxBytes = length * 3;
    const prefix = varintSize(maxBytes);
    if (this.pos + prefix + maxBytes > this.bytes.byteLength) this.grow(prefix + maxBytes);
    const written = utf8.encodeInto(value, this.bytes.subarray(this.pos + prefix)).written;
    const actual = varintSize(written);
    if (actual < prefix) {
      this.bytes.copyWithin(this.pos + actual, this.pos + prefix, this.pos + prefix + written);
    }
    this.uvarint(written);
    this.pos += written;
  }

  /** 16 raw bytes of a lowercase UUID string. */
  uuid(value: string): void {
    if (this.pos + 16 > this.bytes.byteLength) this.grow(16);
    uuidToBytes(value, this.bytes, this.pos);
    this.pos += 16;
  }

  /** Writes `count` bytes from `source` at `offset`. */
  bytesFrom(source: Uint8Array, offset: number, count: number): void {
    if (this.pos + count > this.bytes.byteLength) this.grow(count);
    this.bytes.set(source.subarray(offset, offset + count), this.pos);
    this.pos += count;
  }

  private uvarint(value: number): void {
    if (this.pos + 8 > this.bytes.byteLength) this.grow(8);
    let rest = value;
    while (rest >= 0x80) {
      const low = rest % 0x80;
      this.bytes[this.pos++] = low | 0x80;
      rest = (rest - low) / 0x80;
    }
    this.bytes[this.pos++] = rest;
  }

  private signMagnitude(sign: number, magnitude: number): void {
    const low = magnitude % 0x40;
    const rest = (magnitude - low) / 0x40;
    if (rest === 0) {
      this.u8(low * 2 + sign);
      return;
    }
    this.u8(0x80 | (low * 2 + sign));
    this.uvarint(rest);
  }

  private grow(needed: number): void {
    let capacity = this.bytes.byteLength * 2;
    while (capacity < this.pos + needed) capacity *= 2;
    const old = this.bytes;
    this.allocate(capacity);
    this.bytes.set(old.subarray(0, this.pos));
  }

  private allocate(capacity: number): void {
    this.bytes = new Uint8Array(capacity);
    this.view = new DataView(this.bytes.buffer);
  }
}

/** Bytes an unsigned varint of `value` takes. */
export function varintSize(value: number): number {
  let size = 1;
  let rest = value;
  while (rest >= 0x80) {
    rest = Math.floor(rest / 0x80);
    size++;
  }
  return size;
}
