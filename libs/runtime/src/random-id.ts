import { randomBytes } from 'node:crypto';

const alphabet = '0123456789abcdefghijklmnopqrstuvwxyz';

/** A short random id (connection ids appear in every frame that names an owner: keep them short). */
export function randomId(length = 10): string {
  const bytes = randomBytes(length);
  let out = '';
  for (const byte of bytes) out += alphabet[byte % 36];
  return out;
}

export function randomSeed(): number {
  return randomBytes(4).readUInt32LE(0);
}
