import { ErrorCode, P3Error } from '../errors.js';
import { messageLimits, type InputState } from '../messages.js';
import { malformed, type ByteReader } from './byte-reader.js';
import type { ByteWriter } from './byte-writer.js';

/** Input state on the wire: varint count, the names, then the values packed 8 to a byte (bit i%8 of byte i/8). */
export function writeInputState(w: ByteWriter, input: InputState): void {
  const names = Object.keys(input);
  w.varint(names.length, 'input count');
  for (const name of names) w.string(name, 'input name');
  let byte = 0;
  for (let i = 0; i < names.length; i++) {
    const value = input[names[i] as string];
    if (typeof value !== 'boolean') {
      throw new P3Error(ErrorCode.InvalidMessage, 'input values must be booleans', { detail: names[i] });
    }
    if (value) byte |= 1 << (i % 8);
    if (i % 8 === 7 || i === names.length - 1) {
      w.u8(byte);
      byte = 0;
    }
  }
}

/** Names are checked for prototype keys and duplicates before they become keys; bits past the count are MALFORMED. */
export function readInputState(r: ByteReader): InputState {
  // Each entry takes at least 1 byte of name prefix; the value bytes are counted when read.
  const count = r.count('input', messageLimits.maxInputKeys, 1);
  const names: string[] = [];
  for (let i = 0; i < count; i++) names.push(r.key('input name'));
  const out: Record<string, boolean> = {};
  let byte = 0;
  for (let i = 0; i < count; i++) {
    if (i % 8 === 0) {
      byte = r.u8('input values');
      const used = Math.min(8, count - i);
      if (used < 8 && byte >> used !== 0) malformed('input value bits past the count', 'input');
    }
    const name = names[i] as string;
    if (Object.hasOwn(out, name)) malformed(`duplicate input name "${name.slice(0, 32)}"`, 'input');
    out[name] = ((byte >> (i % 8)) & 1) === 1;
  }
  return out;
}
