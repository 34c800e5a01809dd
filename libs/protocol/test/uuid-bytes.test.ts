import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { capped } from './property-cap.js';
import { bytesToUuid, readUuid, uuidToBytes } from '../src/binary/uuid-bytes.js';

/** The plain formatting the fast versions must match. */
function reference(bytes: Uint8Array, offset: number): string {
  const hex = [...bytes.subarray(offset, offset + 16)].map((b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

describe('uuid bytes', () => {
  it('formats any 16 bytes at any offset as the lowercase id, and back', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 40 }), fc.nat(), (bytes, at) => {
        const offset = at % (bytes.length - 15);
        const id = reference(bytes, offset);
        expect(bytesToUuid(bytes, offset)).toBe(id);
        expect(readUuid(bytes, offset)).toBe(id);
        const back = new Uint8Array(16);
        uuidToBytes(id, back, 0);
        expect([...back]).toEqual([...bytes.subarray(offset, offset + 16)]);
      }),
      capped({ numRuns: 2000 }),
    );
  });

  it('returns the remembered id for the same bytes, never for bytes that differ anywhere', () => {
    const bytes = Uint8Array.from({ length: 16 }, (_, i) => i * 17);
    const first = readUuid(bytes, 0);
    expect(readUuid(Uint8Array.from(bytes), 0)).toBe(first);
    // Ids differing in any single byte never come back as the remembered one.
    for (let i = 0; i < 16; i++) {
      const other = Uint8Array.from(bytes);
      other[i] = (other[i]! + 1) & 0xff;
      expect(readUuid(other, 0)).toBe(reference(other, 0));
      expect(readUuid(bytes, 0)).toBe(first);
    }
  });
});
