import { ErrorCode, P3Error } from '../errors.js';
import { isUuid } from '../field-checks.js';

/** Two lowercase hex digits per byte value. */
const hexPairs: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

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

/** Formats 16 bytes as a lowercase UUID string (every 16 bytes are a well-formed id). */
export function bytesToUuid(bytes: Uint8Array, offset: number): string {
  let id = '';
  for (let i = 0; i < 16; i++) {
    id += hexPairs[bytes[offset + i] as number] as string;
    if (i === 3 || i === 5 || i === 7 || i === 9) id += '-';
  }
  return id;
}
