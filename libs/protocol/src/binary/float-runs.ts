import { ErrorCode, P3Error } from '../errors.js';
import { malformed, type ByteReader } from './byte-reader.js';
import type { ByteWriter } from './byte-writer.js';
import type { CompiledField } from './schema-tables.js';

/**
 * How a message carries the values of a `number` field without bounds or precision (`NumberEncoding.Float`): the
 * field's first value in the message opens a run, and the run says how the field's later values in the same message
 * travel. Nothing carries over between messages, so a lost, reordered or re-sent message decodes on its own.
 *
 * - Run header (varint), then the first value:
 *   - 0 `float`: a float64; later values are float64s.
 *   - 1 `integer`: a zigzag varint q, the value is q; 2 `micro`: a zigzag varint q, the value is q / 10^6
 *     (decimals to the millionth: `performance.now()`, prices, ...). Later values are a varint u: 0 = a float64
 *     follows (a value the run cannot hold exactly); otherwise u - 1 is the zigzag of q minus the previous q.
 *
 * Values are exact: the encoder chooses a decimal run only when the division the decoder makes gives back the very
 * same number (and never for -0). Timestamps of one frame lie milliseconds apart, so after the first one each
 * takes 4 bytes instead of 8.
 */
export const FloatRun = { Float: 0, Integer: 1, Micro: 2 } as const;
type FloatRun = (typeof FloatRun)[keyof typeof FloatRun];

const microScale = 1_000_000;
/** Largest |delta| written as one: its zigzag plus one stays a safe integer. */
const maxDelta = 2 ** 51;

/** The q of `value` in a decimal run of `mode`, or undefined when the run cannot hold it exactly. */
function scaled(mode: FloatRun, value: number): number | undefined {
  if (Object.is(value, -0)) return undefined;
  if (mode === FloatRun.Integer) return Number.isSafeInteger(value) ? value : undefined;
  const q = Math.round(value * microScale);
  return Number.isSafeInteger(q) && q / microScale === value ? q : undefined;
}

function unscaled(mode: FloatRun, q: number): number {
  return mode === FloatRun.Integer ? q : q / microScale;
}

/**
 * The runs of one codec: `begin()` at every message, then `write`/`read` per value of a Float-plan field. State is
 * kept in arrays by the field's slot (no lookup per value on the encode and decode paths).
 */
export class FloatRuns {
  private generation = 0;
  /** Per slot: the message generation the field's run belongs to (older: no run in this message yet). */
  private readonly started: number[] = [];
  private readonly modes: FloatRun[] = [];
  /** Per slot: the previous value's q (decimal runs). */
  private readonly lasts: number[] = [];

  /** A new message: every field starts without a run. */
  begin(): void {
    this.generation++;
  }

  write(w: ByteWriter, field: CompiledField, value: number): void {
    const slot = field.slot;
    if (this.started[slot] !== this.generation) {
      this.started[slot] = this.generation;
      const integer = scaled(FloatRun.Integer, value);
      const q = integer ?? scaled(FloatRun.Micro, value);
      if (q === undefined) {
        this.modes[slot] = FloatRun.Float;
        w.varint(FloatRun.Float);
        w.f64(value);
        return;
      }
      const mode = integer === undefined ? FloatRun.Micro : FloatRun.Integer;
      this.modes[slot] = mode;
      this.lasts[slot] = q;
      w.varint(mode);
      w.zigzag(q);
      return;
    }
    const mode = this.modes[slot]!;
    if (mode === FloatRun.Float) {
      w.f64(value);
      return;
    }
    const q = scaled(mode, value);
    const last = this.lasts[slot]!;
    if (q === undefined || !(Math.abs(q - last) <= maxDelta)) {
      w.varint(0);
      w.f64(value);
      return;
    }
    const delta = q - last;
    this.lasts[slot] = q;
    w.varint(1 + (delta >= 0 ? delta * 2 : -delta * 2 - 1));
  }

  read(r: ByteReader, field: CompiledField): number {
    const { slot, name } = field;
    if (this.started[slot] !== this.generation) {
      this.started[slot] = this.generation;
      const mode = r.varint(name);
      if (mode === FloatRun.Float) {
        this.modes[slot] = FloatRun.Float;
        return r.f64(name);
      }
      if (mode !== FloatRun.Integer && mode !== FloatRun.Micro)
        return malformed(`unknown number run ${mode}`, name);
      this.modes[slot] = mode;
      return unscaled(mode, this.remember(slot, r.zigzag(name), name));
    }
    const mode = this.modes[slot]!;
    if (mode === FloatRun.Float) return r.f64(name);
    const u = r.varint(name);
    if (u === 0) return r.f64(name);
    const zz = u - 1;
    const delta = zz % 2 === 0 ? zz / 2 : -(zz + 1) / 2;
    return unscaled(mode, this.remember(slot, this.lasts[slot]! + delta, name));
  }

  /** A run's q (the escape value of a zigzag, or a sum past the safe range, is VARINT_OVERFLOW). */
  private remember(slot: number, q: number, name: string): number {
    if (!Number.isSafeInteger(q)) {
      throw new P3Error(ErrorCode.VarintOverflow, `${name} is past the safe integer range`, { detail: name });
    }
    this.lasts[slot] = q;
    return q;
  }
}
