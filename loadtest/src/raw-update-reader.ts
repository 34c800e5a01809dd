import { randomUUID } from 'node:crypto';
import { BinaryClientTag, BinaryCodec, JsonCodec } from '@p3/protocol';
import { arenaBenchSchema, BOT_TYPE } from './arena-schema.js';
import type { Codec } from './bench-options.js';

/**
 * The bot id of client `index`: a random v4 UUID whose last 8 hex digits are the index, so a receiver of the raw
 * floor learns the sender from the id's bytes without building a string.
 */
export function botEntityId(index: number): string {
  return randomUUID().slice(0, 28) + index.toString(16).padStart(8, '0');
}

/** Sender and stamp of one update (an out parameter: reading allocates nothing). */
export interface RawUpdate {
  sender: number;
  t: number;
}

/**
 * Reads (sender, t) from a P3 `ops` message with one bot `update`, as the raw floor forwards it, without decoding
 * the whole message: decoding 240,000 messages a second with the full codec would saturate the load process
 * before the floor server. It relies on the binary layout (libs/protocol/src/binary/binary-codec.ts): tag, flags,
 * varint stamp, varint seq, [varint through], varint op count, op header, [varint frame], 16 id bytes, varint type
 * index, the field mask (x, y and t: one byte), x and y (2 bytes each), then `t`, unbounded, as the first value of its run
 * (float-runs.ts: a run header, then a float64 or a zigzag varint). `assertRawReaders` checks this against the real
 * codecs when the load process starts.
 */
export function readBinaryUpdate(bytes: Buffer, out: RawUpdate): boolean {
  const end = bytes.byteLength;
  if (end < 28 || bytes[0] !== BinaryClientTag.Ops) return false;
  const flags = bytes[1] as number;
  let p = skipVarint(bytes, 2); // stamp
  p = skipVarint(bytes, p); // seq
  if ((flags & 1) !== 0) p = skipVarint(bytes, p); // through
  if (bytes[p++] !== 1) return false; // one op
  const header = bytes[p++] as number;
  if ((header & 7) !== opKindUpdate || (header & opFlagUntyped) !== 0) return false;
  if ((header & opFlagFrame) !== 0) p = skipVarint(bytes, p);
  if (p + 16 + 1 + 4 + 2 > end) return false;
  out.sender = bytes.readUInt32BE(p + 12);
  p = skipVarint(bytes, p + 16); // type index
  if (p + 1 + 4 + 2 > end || bytes[p++] !== allFields) return false;
  p += 4; // x, y
  const run = bytes[p++] as number;
  if (run === 0) {
    if (p + 8 > end) return false;
    out.t = bytes.readDoubleLE(p);
    return true;
  }
  // Zigzag in sign-magnitude: bit 0 the sign, 6 bits of magnitude, then a varint of the rest.
  const first = bytes[p++] as number;
  let magnitude = (first & 0x7f) >>> 1;
  if (first >= 0x80) {
    let scale = 0x40;
    for (;;) {
      if (p >= end) return false;
      const b = bytes[p++] as number;
      magnitude += (b & 0x7f) * scale;
      if (b < 0x80) break;
      scale *= 0x80;
    }
  }
  const q = (first & 1) === 1 ? -magnitude - 1 : magnitude;
  if (run === 1) out.t = q;
  else if (run === 2) out.t = q / 1_000_000;
  else return false;
  return true;
}

/** The same for the JSON codec: `"op":"update"`, the id's last 8 hex digits, and the number after the last `"t":`. */
export function readJsonUpdate(bytes: Buffer, out: RawUpdate): boolean {
  if (bytes.indexOf(updateNeedle) < 0) return false;
  const id = bytes.indexOf(entityIdNeedle);
  if (id < 0) return false;
  const hexAt = id + entityIdNeedle.byteLength + 28;
  let sender = 0;
  for (let i = 0; i < 8; i++) {
    const c = bytes[hexAt + i] as number;
    const digit = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : -1;
    if (digit < 0) return false;
    sender = sender * 16 + digit;
  }
  const tKey = bytes.lastIndexOf(tNeedle);
  if (tKey < 0) return false;
  const start = tKey + tNeedle.byteLength;
  let stop = start;
  while (stop < bytes.byteLength && numberChar(bytes[stop] as number)) stop++;
  const t = Number(bytes.toString('latin1', start, stop));
  if (stop === start || !Number.isFinite(t)) return false;
  out.sender = sender;
  out.t = t;
  return true;
}

/** Fails loudly when the wire format moved under the readers above (run once per load process). */
export function assertRawReaders(codec: Codec): void {
  // A `performance.now()` (decimals to the millionth), an integer, and a number with more decimals.
  for (const t of [12345.678901, 12345, 12345.678901234]) assertRawReader(codec, t);
}

function assertRawReader(codec: Codec, t: number): void {
  const index = 0x1234;
  const entityId = botEntityId(index);
  const encoder = codec === 'binary' ? new BinaryCodec(arenaBenchSchema) : new JsonCodec();
  encoder.encodeClient({
    type: 'ops',
    stamp: 1,
    seq: 1,
    ops: [{ op: 'create', entityId, typeName: BOT_TYPE, data: { x: 1, y: 1, t: 1 } }],
  });
  const encoded = encoder.encodeClient({
    type: 'ops',
    stamp: 7,
    seq: 300_000,
    ops: [{ op: 'update', entityId, data: { x: 512.5, y: 3, t } }],
  });
  const bytes = Buffer.from(typeof encoded === 'string' ? Buffer.from(encoded, 'utf8') : encoded);
  const out: RawUpdate = { sender: -1, t: -1 };
  const ok = codec === 'binary' ? readBinaryUpdate(bytes, out) : readJsonUpdate(bytes, out);
  if (!ok || out.sender !== index || out.t !== t) {
    throw new Error(
      `the raw-floor update reader no longer matches the ${codec} codec's layout: fix loadtest/src/raw-update-reader.ts`,
    );
  }
}

const opKindUpdate = 2;
const opFlagFrame = 8;
const opFlagUntyped = 16;
/** Field mask of an update that writes x, y and t. */
const allFields = 0b111;
const updateNeedle = Buffer.from('"op":"update"');
const entityIdNeedle = Buffer.from('"entityId":"');
const tNeedle = Buffer.from('"t":');

function skipVarint(bytes: Buffer, at: number): number {
  let p = at;
  while (p < bytes.byteLength && ((bytes[p] as number) & 0x80) !== 0) p++;
  return p + 1;
}

function numberChar(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x2d || c === 0x2b || c === 0x65 || c === 0x45;
}
