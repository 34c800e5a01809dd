import type { BufferedEntry } from './ports/frame-buffer.js';

/**
 * One room output message as it travels on `roomOutput(key)`: where it sits in the room's output (`epoch` is the
 * owner's fencing token, `seq` numbers the owner's output from 1) and the frame it belongs to, around an opaque
 * payload. The same shape as a frame-buffer entry, so a gateway repairs a gap with buffered entries as they are.
 */
export type RoomOutputEnvelope = BufferedEntry;

/** The only layout so far. A receiver refuses any other: a mixed-version cluster must not guess at bytes. */
export const ROOM_OUTPUT_ENVELOPE_VERSION = 1;

/** Stable codes of a refused envelope: part of the public API, never renamed, only added. */
export const EnvelopeErrorCode = {
  /** No bytes at all. */
  Empty: 'ENVELOPE_EMPTY',
  /** The first byte is not {@link ROOM_OUTPUT_ENVELOPE_VERSION}. */
  UnknownVersion: 'ENVELOPE_UNKNOWN_VERSION',
  /** The bytes end inside a varint. */
  Truncated: 'ENVELOPE_TRUNCATED',
  /** A varint with a redundant zero continuation group: each value has exactly one spelling. */
  Overlong: 'ENVELOPE_OVERLONG',
  /** A value above `Number.MAX_SAFE_INTEGER` (2^53 - 1), which a JS number cannot count past exactly. */
  TooLarge: 'ENVELOPE_TOO_LARGE',
  /** `seq` 0: an owner numbers its output from 1, so 0 is never a message. */
  ZeroSeq: 'ENVELOPE_ZERO_SEQ',
} as const;
export type EnvelopeErrorCode = (typeof EnvelopeErrorCode)[keyof typeof EnvelopeErrorCode];

/** What {@link decodeEnvelope} made of some bytes: never an exception, since the bytes come off the network. */
export type EnvelopeDecodeResult =
  | { readonly ok: true; readonly envelope: RoomOutputEnvelope }
  | { readonly ok: false; readonly code: EnvelopeErrorCode; readonly message: string };

// 2^53 - 1 needs 53 bits: eight 7-bit groups. A ninth byte can only mean a value too large (or an overlong one).
const maxVarintBytes = 8;

/**
 * The bytes of one envelope: the version byte, `epoch`, `seq` and `frame` as unsigned LEB128 varints, then the
 * payload to the end. Throws a `RangeError` on values the decoder would refuse (a programming error of the owner,
 * not bad input).
 *
 * @example
 * bus.publish(roomOutput(key), encodeEnvelope({ epoch: 3, seq: 41, frame: 1200, payload }));
 */
export function encodeEnvelope(envelope: RoomOutputEnvelope): Uint8Array {
  const { epoch, seq, frame, payload } = envelope;
  checkValue(epoch, 'epoch');
  checkValue(seq, 'seq');
  checkValue(frame, 'frame');
  if (seq === 0) throw new RangeError('envelope seq must be >= 1');
  const header = [ROOM_OUTPUT_ENVELOPE_VERSION, ...varint(epoch), ...varint(seq), ...varint(frame)];
  const bytes = new Uint8Array(header.length + payload.byteLength);
  bytes.set(header, 0);
  bytes.set(payload, header.length);
  return bytes;
}

/**
 * Reads an envelope. Every byte after `frame` is payload, so there is no trailing garbage to refuse: a later
 * version that needs another field puts it before the payload under a new version byte. The payload is a view of
 * `bytes` (no copy: a bus hands each handler its own bytes), so the caller must not reuse `bytes` while it holds it.
 *
 * @example
 * const decoded = decodeEnvelope(bytes);
 * if (!decoded.ok) return metrics.malformed.inc({ code: decoded.code });
 */
export function decodeEnvelope(bytes: Uint8Array): EnvelopeDecodeResult {
  if (bytes.byteLength === 0) return failure(EnvelopeErrorCode.Empty, 'empty envelope');
  const version = bytes[0];
  if (version !== ROOM_OUTPUT_ENVELOPE_VERSION)
    return failure(EnvelopeErrorCode.UnknownVersion, `unknown envelope version ${String(version)}`);
  let offset = 1;
  const values: number[] = [];
  for (const name of ['epoch', 'seq', 'frame'] as const) {
    const read = readVarint(bytes, offset, name);
    if (!read.ok) return read;
    values.push(read.value);
    offset = read.next;
  }
  const [epoch = 0, seq = 0, frame = 0] = values;
  if (seq === 0) return failure(EnvelopeErrorCode.ZeroSeq, 'envelope seq 0');
  return { ok: true, envelope: { epoch, seq, frame, payload: bytes.subarray(offset) } };
}

function checkValue(value: number, name: string): void {
  if (!Number.isSafeInteger(value) || value < 0)
    throw new RangeError(`envelope ${name} must be a non-negative safe integer, got ${String(value)}`);
}

function varint(value: number): number[] {
  const out: number[] = [];
  // Division, not `>>>`: bitwise operators truncate to 32 bits and values go up to 2^53 - 1.
  let rest = value;
  while (rest >= 0x80) {
    out.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  out.push(rest);
  return out;
}

type VarintRead =
  | { readonly ok: true; readonly value: number; readonly next: number }
  | { readonly ok: false; readonly code: EnvelopeErrorCode; readonly message: string };

function readVarint(bytes: Uint8Array, start: number, name: string): VarintRead {
  let value = 0;
  let scale = 1;
  for (let index = 0; index < maxVarintBytes; index++) {
    const byte = bytes[start + index];
    if (byte === undefined) return failure(EnvelopeErrorCode.Truncated, `envelope ends inside ${name}`);
    value += (byte & 0x7f) * scale;
    if (value > Number.MAX_SAFE_INTEGER) return failure(EnvelopeErrorCode.TooLarge, `${name} above 2^53 - 1`);
    if ((byte & 0x80) === 0) {
      if (byte === 0 && index > 0)
        return failure(EnvelopeErrorCode.Overlong, `${name} has an overlong varint`);
      return { ok: true, value, next: start + index + 1 };
    }
    scale *= 0x80;
  }
  // Eight continuation bytes: even a ninth group of 0 would be overlong, any other is above 2^53 - 1.
  return failure(EnvelopeErrorCode.TooLarge, `${name} varint longer than ${maxVarintBytes} bytes`);
}

function failure(
  code: EnvelopeErrorCode,
  message: string,
): { ok: false; code: EnvelopeErrorCode; message: string } {
  return { ok: false, code, message };
}
