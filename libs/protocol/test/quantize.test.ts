import { describe, expect, it } from 'vitest';
import {
  BinaryCodec,
  NumberEncoding,
  PROTOCOL_VERSION,
  dequantize,
  planNumber,
  quantize,
  type FieldSpec,
  type FrameMessage,
  type WelcomeMessage,
  type WorldSchema,
} from '../src/index.js';

// Fixed examples for what the codec property tests (binary-codec.test.ts) find only rarely: precisions that are not
// powers of ten (0.5, 0.25, 0.3, 2.5), grids that do not start or end on a step, ties, values past both ends.
// Each must round-trip within step/2 of the value clamped into [min, max], and never leave [min, max].

const A = '0190a3c4-0000-7000-8000-00000000000a';

/** The decoded value of `value` for `spec`, through the plan alone. */
function roundTrip(spec: FieldSpec, value: number): number {
  const plan = planNumber(spec);
  return dequantize(plan, quantize(plan, value));
}

function expectWithinStep(spec: FieldSpec, value: number, got: number): void {
  const { min = -Infinity, max = Infinity } = spec;
  const clamped = Math.min(max, Math.max(min, value));
  const step = planNumber(spec).step;
  const slack = 1e-9 * (Math.abs(min === -Infinity ? 0 : min) + Math.abs(max === Infinity ? 0 : max) + step);
  expect(Math.abs(got - clamped), `${value} -> ${got} (${JSON.stringify(spec)})`).toBeLessThanOrEqual(
    step / 2 + slack + 1e-9 * Math.abs(value),
  );
  expect(got).toBeGreaterThanOrEqual(min);
  expect(got).toBeLessThanOrEqual(max);
}

const cases: ReadonlyArray<[FieldSpec, readonly number[]]> = [
  [
    { dataType: 'number', min: 0, max: 100, precision: 0.5 },
    [0, 0.25, 0.5, 0.74, 0.75, 42.5, 99.75, 99.76, 100, -3, 250],
  ],
  [
    { dataType: 'number', min: -0.75, max: 0.8, precision: 0.5 },
    [-0.75, -0.5, 0, 0.25, 0.5, 0.55, 0.79, 0.8, -1, 1],
  ],
  [{ dataType: 'number', min: 0, max: 1, precision: 0.25 }, [0, 0.125, 0.375, 0.5, 0.875, 1, 2]],
  [{ dataType: 'number', min: -1, max: 1, precision: 0.3 }, [-1, -0.85, -0.1, 0, 0.15, 0.3, 0.9, 0.95, 1]],
  [{ dataType: 'number', min: 0, max: 7, precision: 2.5 }, [0, 1.25, 2.5, 6, 6.9, 7, 8]],
  [{ dataType: 'number', min: 1e6, max: 1e6 + 3, precision: 0.5 }, [1e6, 1e6 + 0.25, 1e6 + 2.75, 1e6 + 3]],
];

describe('quantization: fixed examples of non-decimal precisions', () => {
  it.each(cases)('%j round-trips within step/2, inside [min, max]', (spec, values) => {
    const plan = planNumber(spec);
    expect(plan.encoding).toBe(NumberEncoding.Quantized);
    for (const value of values) expectWithinStep(spec, value, roundTrip(spec, value));
    // Values on the grid come back exactly.
    if (spec.precision === 0.5 && spec.min === 0) {
      for (const value of [0, 0.5, 42.5, 100]) expect(roundTrip(spec, value)).toBe(value);
    }
  });

  it('a precision of 0.5 without bounds is sent scaled, within 0.25', () => {
    const spec: FieldSpec = { dataType: 'number', precision: 0.5 };
    expect(planNumber(spec).encoding).toBe(NumberEncoding.Scaled);
    const { server, client } = joined({ t: { fields: { v: spec } } });
    for (const v of [0, 0.25, 1.25, -1.25, 0.74, 1e9 + 0.25, -123456.75]) {
      const decoded = roundTripFields(server, client, 11, { v });
      expect(Math.abs((decoded.v as number) - v), `${v} -> ${String(decoded.v)}`).toBeLessThanOrEqual(
        0.25 + 1e-9 * Math.abs(v),
      );
    }
  });

  it('quantized fields with non-decimal precisions survive the binary codec, clamped', () => {
    const fields = Object.fromEntries(cases.map(([spec], i) => [`f${i}`, spec]));
    const { server, client } = joined({ t: { fields } });
    const rounds = Math.max(...cases.map(([, values]) => values.length));
    for (let k = 0; k < rounds; k++) {
      const sent = Object.fromEntries(cases.map(([, values], i) => [`f${i}`, values[k % values.length]!]));
      const decoded = roundTripFields(server, client, 11 + k, sent);
      cases.forEach(([spec], i) => expectWithinStep(spec, sent[`f${i}`]!, decoded[`f${i}`] as number));
    }
  });
});

/** A server codec for `schema` and a client that received its welcome. */
function joined(schema: WorldSchema): { server: BinaryCodec; client: BinaryCodec } {
  const server = new BinaryCodec(schema);
  const client = new BinaryCodec();
  const welcome: WelcomeMessage = {
    type: 'welcome',
    protocolVersion: PROTOCOL_VERSION,
    connectionId: 'conn-1',
    room: 'lobby',
    schema: server.schema,
    tickRate: 20,
    bufferFrame: 2,
    frame: 10,
    serverTime: 500,
    lastSeq: 0,
    delta: false,
    entities: [],
    removed: [],
  };
  const result = client.decodeServer(server.encodeServer(welcome));
  if (!result.ok) throw result.error;
  return { server, client };
}

/** Sends entity A of type `t` with `fields` in frame `id` and returns the fields the client decoded. */
function roundTripFields(
  server: BinaryCodec,
  client: BinaryCodec,
  id: number,
  fields: Record<string, number>,
): Record<string, unknown> {
  const message: FrameMessage = {
    type: 'frame',
    frame: {
      id,
      type: 'verified',
      time: id * 50,
      events: [],
      entities: [{ id: A, typeName: 't', created: true, fields }],
      removed: [],
    },
  };
  const result = client.decodeServer(server.encodeServer(message));
  if (!result.ok) throw result.error;
  if (result.value.type !== 'frame') throw new Error(`expected a frame, got ${result.value.type}`);
  return result.value.frame.entities[0]?.fields ?? {};
}
