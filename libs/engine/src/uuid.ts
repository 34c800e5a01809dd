const hex = (value: number, digits: number): string =>
  (value >>> 0).toString(16).padStart(8, '0').slice(-digits);

/**
 * UUIDv7 from an explicit timestamp and three random 32-bit words, so the engine stays pure: the caller
 * (or the frame's seeded random source) supplies both. Ids sort by creation time.
 *
 * @example uuidv7(1767225600000, [0x12345678, 0x9abcdef0, 0x0fedcba9]) // '019b76da-ec00-7678-9abc-def00fedcba9'
 */
export function uuidv7(unixMs: number, random: readonly [number, number, number]): string {
  const ms = Math.min(Math.max(0, Math.floor(unixMs)), 2 ** 48 - 1);
  const time =
    Math.floor(ms / 2 ** 24)
      .toString(16)
      .padStart(6, '0') + (ms % 2 ** 24).toString(16).padStart(6, '0');
  const [r0, r1, r2] = random;
  return (
    `${time.slice(0, 8)}-${time.slice(8, 12)}-7${hex(r0, 3)}-` +
    `${hex(((r1 >>> 16) & 0x3fff) | 0x8000, 4)}-${hex(r1 & 0xffff, 4)}${hex(r2, 8)}`
  );
}

/** Milliseconds encoded in a UUIDv7 (NaN for other versions). */
export function uuidv7Time(id: string): number {
  if (id[14] !== '7') return Number.NaN;
  return parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}
