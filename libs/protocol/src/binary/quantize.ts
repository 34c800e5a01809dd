import type { FieldSpec } from '../schema.js';

/** How a `number` field travels in the binary codec. */
export const NumberEncoding = {
  /** min and max: an unsigned integer q in `bytes` bytes, value = min + q * step (clamped to max). */
  Quantized: 0,
  /** precision without both bounds: zigzag varint of round(v / precision). */
  Scaled: 1,
  /** neither: float64. */
  Float: 2,
} as const;
export type NumberEncoding = (typeof NumberEncoding)[keyof typeof NumberEncoding];

export interface NumberPlan {
  readonly encoding: NumberEncoding;
  readonly min: number;
  readonly max: number;
  /** Quantization step (Quantized, Scaled). */
  readonly step: number;
  /** Largest q (Quantized). */
  readonly qmax: number;
  /** Whole bytes that hold qmax (Quantized; 0 when min === max). */
  readonly bytes: number;
}

/** Default number of steps between min and max when the field has no `precision`: 16 bits. */
const defaultSteps = 65535;
/** A quantized value takes at most 6 bytes; finer steps are sent as float64 (8 bytes, exact). */
const maxQuantizedBytes = 6;

const floatPlan: NumberPlan = { encoding: NumberEncoding.Float, min: 0, max: 0, step: 0, qmax: 0, bytes: 0 };

/**
 * Chooses the encoding of a `number` field from its spec.
 *
 * @example
 * planNumber({ dataType: 'number', min: 0, max: 100 }); // Quantized, step 100/65535, 2 bytes
 * planNumber({ dataType: 'number', min: 0, max: 100, precision: 0.5 }); // Quantized, step 0.5, 1 byte
 */
export function planNumber(spec: FieldSpec): NumberPlan {
  const { min, max, precision } = spec;
  if (min !== undefined && max !== undefined) {
    const range = max - min;
    if (!Number.isFinite(range) || range < 0) return floatPlan;
    if (range === 0) {
      return { encoding: NumberEncoding.Quantized, min, max, step: precision ?? 1, qmax: 0, bytes: 0 };
    }
    const step = precision ?? range / defaultSteps;
    const qmax = Math.round(range / step);
    if (!(step > 0) || !Number.isFinite(qmax)) return floatPlan;
    let bytes = 1;
    while (bytes <= maxQuantizedBytes && qmax >= 2 ** (8 * bytes)) bytes++;
    if (bytes > maxQuantizedBytes) return floatPlan;
    return { encoding: NumberEncoding.Quantized, min, max, step, qmax, bytes };
  }
  if (precision !== undefined) {
    return { encoding: NumberEncoding.Scaled, min: 0, max: 0, step: precision, qmax: 0, bytes: 0 };
  }
  return floatPlan;
}

/** q for a finite value: clamped into [min, max], then rounded to the nearest step. */
export function quantize(plan: NumberPlan, value: number): number {
  const clamped = value < plan.min ? plan.min : value > plan.max ? plan.max : value;
  const q = Math.round((clamped - plan.min) / plan.step);
  return q > plan.qmax ? plan.qmax : q;
}

/** The value of q; a q past qmax (hostile input) decodes to max. */
export function dequantize(plan: NumberPlan, q: number): number {
  const value = plan.min + q * plan.step;
  return value > plan.max ? plan.max : value;
}
