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
  /**
   * Decimal steps (10^-decimals, e.g. 0.01): values are computed by dividing whole numbers by a power of ten, so
   * decimal numbers a person writes (42, 10.5) come back exactly. Undefined for other steps.
   */
  readonly decimals?: number;
  /** round(min x 10^decimals), the grid origin of decimal plans. */
  readonly origin?: number;
}

/** Default number of steps between min and max when the field has no `precision`: 16 bits. */
const defaultSteps = 65535;
/** A quantized value takes at most 6 bytes; finer steps are sent as float64 (8 bytes, exact). */
const maxQuantizedBytes = 6;

const floatPlan: NumberPlan = { encoding: NumberEncoding.Float, min: 0, max: 0, step: 0, qmax: 0, bytes: 0 };

/**
 * Chooses the encoding of a `number` field from its spec. Without `precision`, a bounded field keeps the most
 * decimals that fit 16 bits (0..100: 2 decimals, 0..1000: 1, 0..100000: steps of 10).
 *
 * @example
 * planNumber({ dataType: 'number', min: 0, max: 100 }); // Quantized, step 0.01, 2 bytes
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
    const decimals =
      precision === undefined ? Math.floor(Math.log10(defaultSteps / range)) : decimalsOf(precision);
    if (decimals !== undefined && Number.isFinite(decimals) && Math.abs(decimals) <= 15) {
      const origin = Math.round(scaleUp(min, decimals));
      const qmax = Math.round(scaleUp(max, decimals)) - origin;
      const bytes = bytesFor(qmax);
      if (bytes !== undefined) {
        return {
          encoding: NumberEncoding.Quantized,
          min,
          max,
          step: 10 ** -decimals,
          qmax,
          bytes,
          decimals,
          origin,
        };
      }
    }
    const step = precision ?? range / defaultSteps;
    const qmax = Math.round(range / step);
    if (!(step > 0) || !Number.isFinite(qmax)) return floatPlan;
    const bytes = bytesFor(qmax);
    if (bytes === undefined) return floatPlan;
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
  const q =
    plan.decimals === undefined
      ? Math.round((clamped - plan.min) / plan.step)
      : Math.round(scaleUp(clamped, plan.decimals)) - plan.origin!;
  return q < 0 ? 0 : q > plan.qmax ? plan.qmax : q;
}

/** The value of q, within [min, max] (a q past qmax from hostile input decodes to max). */
export function dequantize(plan: NumberPlan, q: number): number {
  const value =
    plan.decimals === undefined ? plan.min + q * plan.step : scaleDown(plan.origin! + q, plan.decimals);
  return value > plan.max ? plan.max : value < plan.min ? plan.min : value;
}

/** 10^-k precisions (0.01, 1, 100) as k; undefined for other steps. */
function decimalsOf(precision: number): number | undefined {
  const k = -Math.log10(precision);
  const rounded = Math.round(k);
  return Math.abs(k - rounded) < 1e-9 && scaleDown(1, rounded) === precision ? rounded : undefined;
}

/** value x 10^k, computed so that decimal inputs stay exact (division by 10^-k for negative k). */
function scaleUp(value: number, k: number): number {
  return k >= 0 ? value * 10 ** k : value / 10 ** -k;
}

function scaleDown(value: number, k: number): number {
  return k >= 0 ? value / 10 ** k : value * 10 ** -k;
}

function bytesFor(qmax: number): number | undefined {
  if (!Number.isFinite(qmax) || qmax < 0) return undefined;
  let bytes = 1;
  while (bytes <= maxQuantizedBytes && qmax >= 2 ** (8 * bytes)) bytes++;
  return bytes > maxQuantizedBytes ? undefined : bytes;
}
