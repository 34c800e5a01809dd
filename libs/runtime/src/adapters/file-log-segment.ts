import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { JsonValue } from '@p3/protocol';
import type { LogEntry } from '../ports/room-log.js';

/**
 * The on-disk format of `FileRoomLog`: numbered segment files (`00000001.log`, ...), each a sequence of records.
 * A record is a header of {@link RECORD_HEADER_BYTES} bytes (payload length, u32 LE; crc32 of the payload, u32 LE)
 * and then its payload, the UTF-8 JSON of `{ t: tenant, r: room, v: version, d: data }` (an append) or
 * `{ t: tenant, r: room, x: through }` (a truncation marker). The crc and the length let the open scan tell a
 * complete record from one a crash cut short.
 */
export const RECORD_HEADER_BYTES = 8;

/**
 * The largest payload written (and accepted when scanning): a length field beyond it is garbage, not a record.
 * Far above any sane room change, far below what would make a reader allocate gigabytes from a torn header.
 */
export const MAX_RECORD_PAYLOAD_BYTES = 64 * 1024 * 1024;

export type LogRecord =
  | {
      readonly kind: 'append';
      readonly tenant: string;
      readonly room: string;
      readonly version: number;
      readonly data: JsonValue;
    }
  | { readonly kind: 'truncate'; readonly tenant: string; readonly room: string; readonly through: number };

/** Frames an append: header and payload in one allocation, since this runs once per record on the hot path. */
export function encodeAppend(tenant: string, room: string, version: number, data: JsonValue): Buffer {
  // JSON.stringify drops an undefined `d` (JavaScript callers can pass one): the record would not scan back.
  if (data === undefined) throw new TypeError('room log data must be a JSON value, got undefined');
  return frame(JSON.stringify({ t: tenant, r: room, v: version, d: data }));
}

/** Frames a truncation marker: on reopen it hides the room's earlier records up to `through`. */
export function encodeTruncate(tenant: string, room: string, through: number): Buffer {
  return frame(JSON.stringify({ t: tenant, r: room, x: through }));
}

function frame(json: string): Buffer {
  const length = Buffer.byteLength(json);
  if (length > MAX_RECORD_PAYLOAD_BYTES) {
    throw new RangeError(`room log record of ${length} bytes exceeds ${MAX_RECORD_PAYLOAD_BYTES}`);
  }
  const buffer = Buffer.allocUnsafe(RECORD_HEADER_BYTES + length);
  buffer.write(json, RECORD_HEADER_BYTES, 'utf8');
  buffer.writeUInt32LE(length, 0);
  buffer.writeUInt32LE(crc32(buffer.subarray(RECORD_HEADER_BYTES)), 4);
  return buffer;
}

export type DecodeResult =
  | { readonly ok: true; readonly record: LogRecord; readonly size: number }
  | { readonly ok: false; readonly reason: string };

/** Decodes the record at `offset`, checking everything a torn or corrupted record could get wrong. */
export function decodeRecord(bytes: Buffer, offset: number): DecodeResult {
  if (bytes.length - offset < RECORD_HEADER_BYTES) return { ok: false, reason: 'incomplete header' };
  const length = bytes.readUInt32LE(offset);
  if (length === 0 || length > MAX_RECORD_PAYLOAD_BYTES) return { ok: false, reason: `bad length ${length}` };
  const start = offset + RECORD_HEADER_BYTES;
  if (bytes.length - start < length) return { ok: false, reason: 'incomplete payload' };
  const payload = bytes.subarray(start, start + length);
  if (crc32(payload) !== bytes.readUInt32LE(offset + 4)) return { ok: false, reason: 'checksum mismatch' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload.toString('utf8'));
  } catch {
    return { ok: false, reason: 'payload is not JSON' };
  }
  const record = toRecord(parsed);
  return record
    ? { ok: true, record, size: RECORD_HEADER_BYTES + length }
    : { ok: false, reason: 'bad shape' };
}

function toRecord(value: unknown): LogRecord | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const { t, r, v, d, x } = value as Record<string, unknown>;
  if (typeof t !== 'string' || typeof r !== 'string') return undefined;
  if (Number.isSafeInteger(v) && d !== undefined) {
    return { kind: 'append', tenant: t, room: r, version: v as number, data: d as JsonValue };
  }
  if (Number.isSafeInteger(x)) return { kind: 'truncate', tenant: t, room: r, through: x as number };
  return undefined;
}

export interface ScannedRecord {
  readonly offset: number;
  readonly size: number;
  readonly record: LogRecord;
}

export interface SegmentScan {
  /** The valid records, in file order. */
  readonly records: ScannedRecord[];
  /** The bytes holding them: where the first invalid record starts, or the file length. */
  readonly validBytes: number;
  /** Why the record at `validBytes` is invalid, when the file goes on past it. */
  readonly problem?: string;
}

/** Reads a whole segment's records up to the first invalid one (the caller decides: torn tail or corruption). */
export function scanSegment(bytes: Buffer): SegmentScan {
  const records: ScannedRecord[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    const decoded = decodeRecord(bytes, offset);
    if (!decoded.ok) return { records, validBytes: offset, problem: decoded.reason };
    records.push({ offset, size: decoded.size, record: decoded.record });
    offset += decoded.size;
  }
  return { records, validBytes: offset };
}

/** `00000001.log`: fixed width, so a directory listing sorts like the ids (parsing keeps >8 digits working too). */
export const segmentFileName = (id: number): string => `${String(id).padStart(8, '0')}.log`;

export function segmentIdOf(fileName: string): number | undefined {
  const match = /^(\d{8,})\.log$/.exec(fileName);
  return match ? Number(match[1]) : undefined;
}

/** Makes a directory's entries durable (a created or unlinked segment); a crash could otherwise undo them. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** An open segment file of the log. */
export interface LogSegment {
  readonly id: number;
  readonly path: string;
  readonly handle: FileHandle;
  /** Bytes written and synced: where the next batch goes. */
  size: number;
  /** Records in this file still visible to `read`: compaction deletes the file only once none are. */
  live: number;
}

/** Creates segment `id` (never reusing a file) and makes its directory entry durable before any record goes in. */
export async function createSegment(dir: string, id: number): Promise<LogSegment> {
  const path = join(dir, segmentFileName(id));
  const handle = await open(path, 'wx+');
  try {
    await syncDirectory(dir);
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw error;
  }
  return { id, path, handle, size: 0, live: 0 };
}

/** Reads back the append at `offset` with one positional read, checking its crc again. */
export async function readAppendAt(segment: LogSegment, offset: number, size: number): Promise<LogEntry> {
  const buffer = Buffer.allocUnsafe(size);
  const { bytesRead } = await segment.handle.read(buffer, 0, size, offset);
  // A disk that changed acknowledged bytes must fail loudly, not hand back garbage.
  const decoded = bytesRead === size ? decodeRecord(buffer, 0) : undefined;
  if (decoded?.ok !== true || decoded.record.kind !== 'append') {
    throw new Error(`room log: the record at ${segment.path} offset ${offset} no longer reads back`);
  }
  return { version: decoded.record.version, data: decoded.record.data };
}
