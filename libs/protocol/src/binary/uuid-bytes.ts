import { ErrorCode, P3Error } from '../errors.js';
import { isUuid } from '../field-checks.js';

/** The char codes of the two lowercase hex digits of each byte value: [2b] and [2b + 1]. */
const hexCodes = new Uint8Array(512);
for (let b = 0; b < 256; b++) {
  const pair = b.toString(16).padStart(2, '0');
  hexCodes[2 * b] = pair.charCodeAt(0);
  hexCodes[2 * b + 1] = pair.charCodeAt(1);
}

/** Positions of the 32 hex digits in `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`. */
const digitOffsets: readonly number[] = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];

function hexValue(code: number): number {
  return code <= 0x39 ? code - 0x30 : code - 0x57;
}

/** Writes the 16 bytes of a lowercase UUID string; anything else is a P3Error(INVALID_ENTITY_ID). */
export function uuidToBytes(id: string, out: Uint8Array, offset: number): void {
  if (!isUuid(id)) {
    throw new P3Error(ErrorCode.InvalidEntityId, 'entity ids must be lowercase UUIDs', {
      detail: String(id).slice(0, 40),
    });
  }
  for (let i = 0; i < 16; i++) {
    const at = digitOffsets[i] as number;
    out[offset + i] = hexValue(id.charCodeAt(at)) * 16 + hexValue(id.charCodeAt(at + 1));
  }
}

/** Char codes of the id being formatted (hyphens in place): one string is built from them in one call. */
const idCodes: number[] = Array.from({ length: 36 }, () => 0x2d);

/** Formats 16 bytes as a lowercase UUID string (every 16 bytes are a well-formed id). */
export function bytesToUuid(bytes: Uint8Array, offset: number): string {
  for (let i = 0; i < 16; i++) {
    const b = bytes[offset + i] as number;
    const at = digitOffsets[i] as number;
    idCodes[at] = hexCodes[2 * b] as number;
    idCodes[at + 1] = hexCodes[2 * b + 1] as number;
  }
  return String.fromCharCode.apply(null, idCodes);
}

/** Ids recently read, by a hash of their bytes (one per hash: a collision replaces). */
const recentIds = new Map<number, string>();
/** Past this many the table starts over: ids from hostile input cannot grow it without bound. */
const maxRecentIds = 65_536;

/**
 * `bytesToUuid`, returning the same string instance each time the same 16 bytes come back. A server reads the same
 * few ids in every message; a string it has seen before has its hash cached and compares by identity with the keys
 * of the maps that hold its entity, where a fresh copy would be hashed and compared character by character.
 */
export function readUuid(bytes: Uint8Array, offset: number): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < 16; i++) hash = Math.imul(hash ^ (bytes[offset + i] as number), 16777619);
  const seen = recentIds.get(hash);
  if (seen !== undefined && sameId(seen, bytes, offset)) return seen;
  const id = bytesToUuid(bytes, offset);
  if (recentIds.size >= maxRecentIds) recentIds.clear();
  recentIds.set(hash, id);
  return id;
}

function sameId(id: string, bytes: Uint8Array, offset: number): boolean {
  for (let i = 0; i < 16; i++) {
    const b = bytes[offset + i] as number;
    const at = digitOffsets[i] as number;
    if (id.charCodeAt(at) !== hexCodes[2 * b] || id.charCodeAt(at + 1) !== hexCodes[2 * b + 1]) return false;
  }
  return true;
}
