import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { capped } from './property-cap.js';
import {
  dequantize,
  planNumber,
  quantize,
  BinaryCodec,
  ErrorCode,
  JsonCodec,
  P3Error,
  PROTOCOL_VERSION,
  toWireSchema,
  type ClientMessage,
  type EntityUpdate,
  type FrameMessage,
  type Result,
  type ServerMessage,
  type WelcomeMessage,
  type WorldSchema,
} from '@p3/protocol';
import {
  alignClientMessage,
  alignServerMessage,
  clientMessageArb,
  idArb,
  schemaArb,
  serverMessageArb,
  welcomeArb,
} from './binary-fixtures.js';
import { ByteReader } from '../src/binary/byte-reader.js';
import { readClientMessage } from '../src/binary/client-messages.js';
import type { WireContext } from '../src/binary/wire-format.js';
import { guard } from '../src/field-checks.js';
import { validateClientMessage } from '../src/validate-client-message.js';

const schema: WorldSchema = {
  player: {
    fields: {
      x: { dataType: 'number', min: -1000, max: 1000, accessControl: 'client' },
      y: { dataType: 'number', min: -1000, max: 1000, accessControl: 'client' },
      secret: { dataType: 'number', replicable: false },
      name: { dataType: 'string' },
      hp: { dataType: 'integer', min: 0, max: 100 },
      score: { dataType: 'integer' },
      data: { dataType: 'json' },
      alive: { dataType: 'boolean' },
    },
    connectionBound: true,
  },
  ball: { fields: { x: { dataType: 'number' }, y: { dataType: 'number', precision: 0.01 } } },
};

const A = '0190d7a0-0000-7000-8000-00000000000a';
const B = '0190d7a0-0000-7000-8000-00000000000b';
const C = '0190d7a0-0000-7000-8000-00000000000c';
const D = '0190d7a0-0000-7000-8000-00000000000d';

function value<T>(result: Result<T>): T {
  if (!result.ok) throw result.error;
  return result.value;
}

function frame(id: number, entities: EntityUpdate[] = [], removed: string[] = []): FrameMessage {
  return { type: 'frame', frame: { id, type: 'verified', time: id * 50, events: [], entities, removed } };
}

function welcome(codec: BinaryCodec, entities: EntityUpdate[], frameId = 10): WelcomeMessage {
  return {
    type: 'welcome',
    protocolVersion: PROTOCOL_VERSION,
    connectionId: 'conn-1',
    room: 'lobby',
    schema: codec.schema,
    tickRate: 20,
    bufferFrame: 2,
    frame: frameId,
    serverTime: frameId * 50,
    lastSeq: 0,
    delta: false,
    entities,
    removed: [],
  };
}

const created = (id: string, x = 1, y = 2): EntityUpdate => ({
  id,
  typeName: 'player',
  created: true,
  owner: null,
  fields: { x, y, name: 'p', hp: 100, score: 0, data: null, alive: true },
});
const moved = (id: string, x: number, y: number): EntityUpdate => ({
  id,
  typeName: 'player',
  fields: { x, y },
});

/** True when the 16 bytes of `id` appear in `bytes`. */
function carriesId(bytes: Uint8Array, id: string): boolean {
  const hex = Buffer.from(bytes).toString('hex');
  return hex.includes(id.replaceAll('-', ''));
}

/** Decodes and compares, with quantized numbers within step/2 of the original. */
function expectDecoded(codec: BinaryCodec, bytes: Uint8Array, message: ServerMessage): void {
  const decoded = value(codec.decodeServer(bytes));
  expect(decoded).toEqual(alignServerMessage(schema, message, decoded));
}

function expectError(result: Result<unknown>, code: ErrorCode): void {
  expect(result.ok).toBe(false);
  if (!result.ok) expect(result.error.code).toBe(code);
}

/** A server codec and a client that has decoded its welcome. */
function joined(entities: EntityUpdate[] = []): { server: BinaryCodec; client: BinaryCodec } {
  const server = new BinaryCodec(schema);
  const client = new BinaryCodec();
  value(client.decodeServer(server.encodeServer(welcome(server, entities))));
  return { server, client };
}

describe('binary codec: round trips (property)', () => {
  it('decodes every server message as encoded, for clients that joined at the start and later', () => {
    const arb = schemaArb.chain((full) => {
      const wire = toWireSchema(full);
      return fc
        .uniqueArray(idArb('e'), { minLength: 1, maxLength: 6 })
        .chain((ids) =>
          fc.tuple(
            fc.constant(full),
            fc.constant(wire),
            welcomeArb(wire, ids),
            fc.array(serverMessageArb(wire, ids), { maxLength: 6 }),
            welcomeArb(wire, ids),
            fc.array(serverMessageArb(wire, ids), { maxLength: 6 }),
          ),
        );
    });
    fc.assert(
      fc.property(arb, ([full, wire, welcome1, before, welcome2, after]) => {
        const server = new BinaryCodec(full);
        const early = new BinaryCodec();
        const late = new BinaryCodec();
        const check = (client: BinaryCodec, bytes: Uint8Array, message: ServerMessage): void => {
          const decoded = value(client.decodeServer(bytes));
          expect(decoded).toEqual(alignServerMessage(wire, message, decoded));
        };
        check(early, server.encodeServer(welcome1), welcome1);
        for (const m of before) check(early, server.encodeServer(m), m);
        check(late, server.encodeServer(welcome2), welcome2);
        for (const m of after) {
          const bytes = server.encodeServer(m); // encoded once, decoded by every member
          check(early, bytes, m);
          check(late, bytes, m);
        }
      }),
      capped({ numRuns: 150 }),
    );
    // Property runs take ~2 s; the bound is for a loaded 2-core CI machine, not a timing assertion.
  }, 120_000);

  it('decodes every client message as encoded (typed, untyped fallback, every op)', () => {
    const arb = schemaArb.chain((full) => {
      const wire = toWireSchema(full);
      const types = Object.keys(wire);
      return fc
        .uniqueArray(fc.tuple(idArb('b'), fc.constantFrom(...types)), {
          maxLength: 5,
          selector: ([id]) => id,
        })
        .chain((known) =>
          fc.tuple(
            fc.constant(full),
            fc.constant(wire),
            fc.constant(known),
            fc.array(clientMessageArb(wire, known), { minLength: 1, maxLength: 6 }),
          ),
        );
    });
    fc.assert(
      fc.property(arb, ([full, wire, known, messages]) => {
        const server = new BinaryCodec(full, { maxMessageBytes: 1 << 20 });
        const client = new BinaryCodec();
        const entities = known.map(([id, typeName]): EntityUpdate => ({ id, typeName, created: true }));
        value(client.decodeServer(server.encodeServer(welcome(server, entities))));
        const types = new Map(known);
        for (const m of messages) {
          const decoded = value(server.decodeClient(client.encodeClient(m)));
          expect(decoded).toEqual(alignClientMessage(wire, m, decoded, (id) => types.get(id)));
        }
      }),
      capped({ numRuns: 150 }),
    );
  });

  it('agrees with the JSON codec on client messages', () => {
    const arb = schemaArb.chain((full) =>
      fc.tuple(
        fc.constant(full),
        fc.array(clientMessageArb(toWireSchema(full), []), { minLength: 1, maxLength: 4 }),
      ),
    );
    fc.assert(
      fc.property(arb, ([full, messages]) => {
        const wire = toWireSchema(full);
        const server = new BinaryCodec(full, { maxMessageBytes: 1 << 20 });
        const client = new BinaryCodec(full);
        const json = new JsonCodec({ maxMessageBytes: 1 << 20 });
        for (const m of messages) {
          const viaBinary = value(server.decodeClient(client.encodeClient(m)));
          const viaJson = value(json.decodeClient(json.encodeClient(m)));
          expect(viaBinary).toEqual(alignClientMessage(wire, viaJson, viaBinary, () => undefined));
        }
      }),
      capped({ numRuns: 60 }),
    );
  });

  it('decodes ops on its checked fast path exactly as the generic read-then-validate path, bytes intact or corrupted', () => {
    const arb = schemaArb.chain((full) => {
      const wire = toWireSchema(full);
      const types = Object.keys(wire);
      return fc
        .uniqueArray(fc.tuple(idArb('b'), fc.constantFrom(...types)), {
          maxLength: 4,
          selector: ([id]) => id,
        })
        .chain((known) =>
          fc.tuple(
            fc.constant(full),
            fc.constant(known),
            fc.array(
              fc.tuple(
                clientMessageArb(wire, known),
                fc.oneof(
                  fc.constant({ kind: 'intact' as const }),
                  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: fc.nat(255) }),
                  fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
                  fc.record({ kind: fc.constant('append' as const), byte: fc.nat(255) }),
                ),
              ),
              { minLength: 1, maxLength: 6 },
            ),
          ),
        );
    });
    let fastPathHits = 0;
    fc.assert(
      fc.property(arb, ([full, known, cases]) => {
        const server = new BinaryCodec(full, { maxMessageBytes: 1 << 20 });
        const client = new BinaryCodec();
        const entities = known.map(([id, typeName]): EntityUpdate => ({ id, typeName, created: true }));
        value(client.decodeServer(server.encodeServer(welcome(server, entities))));
        // The generic path reads with the codec's own context (private: reached through a cast, for this test only).
        const ctx = (server as unknown as { ctx: WireContext }).ctx;
        for (const [message, change] of cases) {
          const intact = client.encodeClient(message) as Uint8Array;
          let bytes = intact;
          if (change.kind === 'set') {
            bytes = intact.slice();
            bytes[change.at % bytes.length] = change.byte;
          } else if (change.kind === 'cut') bytes = intact.slice(0, change.at % intact.length);
          else if (change.kind === 'append') bytes = Uint8Array.from([...intact, change.byte]);
          ctx.fieldSets.begin(); // as the codec does at every message
          const generic = guard(() => readClientMessage(new ByteReader(bytes), ctx));
          const expected = generic.ok ? validateClientMessage(generic.value) : generic;
          const actual = server.decodeClient(bytes);
          expect(actual.ok).toBe(expected.ok);
          if (actual.ok && expected.ok) expect(actual.value).toEqual(expected.value);
          if (!actual.ok && !expected.ok) {
            expect(actual.error.code).toBe(expected.error.code);
            expect(actual.error.message).toBe(expected.error.message);
          }
          if (message.type === 'ops' && message.ops.every((op) => op.op !== 'event')) fastPathHits++;
        }
      }),
      capped({ numRuns: 300 }),
    );
    expect(fastPathHits).toBeGreaterThan(30);
  });
});

describe('binary codec: runs of unbounded numbers in one message', () => {
  const schema: WorldSchema = { bot: { fields: { t: { dataType: 'number' }, n: { dataType: 'number' } } } };
  const ids = Array.from({ length: 40 }, (_, i) => `0190d7a0-0000-7000-8000-${String(i).padStart(12, '0')}`);
  const frameOf = (values: { t?: number; n?: number }[]): FrameMessage => ({
    type: 'frame',
    frame: {
      id: 3,
      type: 'verified',
      time: 100,
      events: [],
      entities: values.map((fields, i) => ({ id: ids[i]!, typeName: 'bot', created: true, fields })),
      removed: [],
    },
  });
  const decodedValues = (server: BinaryCodec, client: BinaryCodec, message: FrameMessage) => {
    const r = client.decodeServer(server.encodeServer(message));
    if (!r.ok) throw r.error;
    return (r.value as FrameMessage).frame.entities.map((e) => e.fields);
  };

  it('gives back every finite number exactly, whatever mix one message holds (property)', () => {
    const value = fc.oneof(
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.integer({ min: -(2 ** 40), max: 2 ** 40 }),
      fc.integer({ min: 0, max: 2 ** 45 }).map((n) => n / 1_000_000),
      fc.constantFrom(
        0,
        -0,
        Number.MAX_SAFE_INTEGER,
        -Number.MAX_SAFE_INTEGER,
        2 ** 53,
        5e-324,
        9007199254.740991,
      ),
    );
    const entry = fc.record({ t: value, n: value }, { requiredKeys: [] });
    fc.assert(
      fc.property(
        fc.array(fc.array(entry, { minLength: 1, maxLength: 40 }), { minLength: 1, maxLength: 3 }),
        (messages) => {
          const server = new BinaryCodec(schema);
          const client = new BinaryCodec(schema);
          for (const values of messages) {
            const got = decodedValues(server, client, frameOf(values));
            got.forEach((fields, i) => {
              for (const name of ['t', 'n'] as const) {
                expect(Object.is(fields?.[name], values[i]![name]), `${name} of #${i}`).toBe(true);
              }
            });
          }
        },
      ),
      capped({ numRuns: 300 }),
    );
  });

  it('sends timestamps milliseconds apart in 4 bytes each after the first, not 8', () => {
    const server = new BinaryCodec(schema);
    const base = 21_234.567891;
    const stamps = Array.from({ length: 16 }, (_, i) => Math.round((base + i * 2.345678) * 1e6) / 1e6);
    const plain = server.encodeServer(frameOf(stamps.map(() => ({}))));
    const timed = server.encodeServer(frameOf(stamps.map((t) => ({ t }))));
    // Per entity the field mask is there either way; the values: a run header and 6 bytes, then 4 bytes each.
    expect(timed.byteLength - plain.byteLength).toBe(1 + 6 + 15 * 4);
    expect(decodedValues(server, new BinaryCodec(schema), frameOf(stamps.map((t) => ({ t }))))).toEqual(
      stamps.map((t) => ({ t })),
    );
  });
});

describe('binary codec: encoding rules', () => {
  it('writes a varint of each size and the largest safe integers', () => {
    const server = new BinaryCodec(schema);
    const client = new BinaryCodec(schema);
    for (const n of [0, 1, 127, 128, 16_383, 16_384, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 40]) {
      const pong: ServerMessage = {
        type: 'pong',
        id: n % 2 ** 32,
        clientTime: -n,
        serverTime: n / 3,
        frame: n,
      };
      expectDecoded(client, server.encodeServer(pong), pong);
    }
    const { server: s2, client: c2 } = joined();
    for (const score of [
      0,
      -1,
      1,
      63,
      -64,
      64,
      -65,
      2 ** 31,
      -(2 ** 31) - 1,
      Number.MAX_SAFE_INTEGER,
      Number.MIN_SAFE_INTEGER,
    ]) {
      const m = frame(11, [{ id: A, typeName: 'player', fields: { score } }]);
      expectDecoded(c2, s2.encodeServer(m), m);
    }
  });

  it('keeps the decimals a person writes: the default step is the finest power of ten that fits 16 bits', () => {
    expect(planNumber({ dataType: 'number', min: 0, max: 100 })).toMatchObject({ step: 0.01, bytes: 2 });
    expect(planNumber({ dataType: 'number', min: 0, max: 1000 })).toMatchObject({ step: 0.1, bytes: 2 });
    expect(planNumber({ dataType: 'number', min: -500, max: 500 })).toMatchObject({ step: 0.1, bytes: 2 });
    expect(planNumber({ dataType: 'number', min: 0, max: 1e6 })).toMatchObject({ step: 100, bytes: 2 });
    const plan = planNumber({ dataType: 'number', min: -50, max: 100 });
    for (const value of [42, 10.5, -3.25, 0.07, 99.99, -50, 100])
      expect(dequantize(plan, quantize(plan, value))).toBe(value);
    expect(dequantize(plan, quantize(plan, 1 / 3))).toBe(0.33);
  });

  it('quantizes bounded numbers to 16 bits by default, within step/2, clamped to [min, max]', () => {
    const { server, client } = joined([created(A)]);
    const step = 2000 / 65535;
    for (const [x, expected] of [
      [0, 0],
      [999.99, 999.99],
      [-1000, -1000],
      [1000, 1000],
      [5000, 1000],
      [-5000, -1000],
    ] as const) {
      const bytes = server.encodeServer(frame(11, [moved(A, x, 0)]));
      const got = value(client.decodeServer(bytes));
      if (got.type !== 'frame') throw new Error('expected a frame');
      const fields = got.frame.entities[0]?.fields ?? {};
      expect(Math.abs((fields.x as number) - expected)).toBeLessThanOrEqual(step / 2 + 1e-9);
      expect(fields.x as number).toBeGreaterThanOrEqual(-1000);
      expect(fields.x as number).toBeLessThanOrEqual(1000);
    }
  });

  it('takes the fewest whole bytes for a quantized field', () => {
    const small: WorldSchema = {
      t: {
        fields: {
          a: { dataType: 'number', min: 0, max: 100, precision: 0.5 }, // 201 steps: 1 byte
          b: { dataType: 'number', min: 0, max: 1 }, // 65536 steps: 2 bytes
          c: { dataType: 'number', min: 5, max: 5 }, // one value: 0 bytes
        },
      },
    };
    const server = new BinaryCodec(small);
    const client = new BinaryCodec();
    value(
      client.decodeServer(server.encodeServer(welcome(server, [{ id: A, typeName: 't', created: true }]))),
    );
    value(client.decodeServer(server.encodeServer(frame(11, [{ id: A, typeName: 't', fields: {} }])))); // defines A for all
    const size = (fields: Record<string, number>): number =>
      server.encodeServer(frame(12, [{ id: A, typeName: 't', fields }])).byteLength;
    const base = size({});
    expect(size({ a: 42.5 }) - base).toBe(1);
    expect(size({ b: 0.25 }) - base).toBe(2);
    expect(size({ c: 5 }) - base).toBe(0);
    const decoded = value(
      client.decodeServer(
        server.encodeServer(frame(12, [{ id: A, typeName: 't', fields: { a: 42.5, c: 5 } }])),
      ),
    );
    expect(decoded).toEqual(frame(12, [{ id: A, typeName: 't', fields: { a: 42.5, c: 5 } }]));
  });

  it('sends unbounded numbers with precision as scaled integers and huge ones exactly', () => {
    const { server, client } = joined();
    for (const y of [0, 1.234, -1.236, 123456.789, 1e300, -1e300]) {
      const m = frame(11, [{ id: B, typeName: 'ball', created: true, fields: { x: y, y } }]);
      const got = value(client.decodeServer(server.encodeServer(m)));
      if (got.type !== 'frame') throw new Error('expected a frame');
      const fields = got.frame.entities[0]?.fields ?? {};
      expect(fields.x).toBe(y); // float64: exact
      expect(Math.abs((fields.y as number) - y)).toBeLessThanOrEqual(0.005 + Math.abs(y) * 1e-12);
    }
  });

  it('keeps more than 32 fields apart in the field bitset', () => {
    const fields = Object.fromEntries(
      Array.from({ length: 40 }, (_, i) => [`f${i}`, { dataType: 'integer' as const }]),
    );
    const wide: WorldSchema = { wide: { fields } };
    const server = new BinaryCodec(wide);
    const client = new BinaryCodec();
    value(client.decodeServer(server.encodeServer(welcome(server, []))));
    const m = frame(11, [
      { id: A, typeName: 'wide', created: true, fields: { f0: 1, f31: 31, f32: 32, f35: -35, f39: 39 } },
    ]);
    expectDecoded(client, server.encodeServer(m), m);
  });

  it('throws typed errors for input that breaks the schema, and encodes nothing', () => {
    const server = new BinaryCodec(schema);
    const code = (message: ServerMessage): string | undefined => {
      try {
        server.encodeServer(message);
        return undefined;
      } catch (error) {
        return error instanceof P3Error ? error.code : 'not a P3Error';
      }
    };
    expect(code(frame(1, [{ id: A, typeName: 'player', fields: { x: 'left' } }]))).toBe(ErrorCode.FieldType);
    expect(code(frame(1, [{ id: A, typeName: 'player', fields: { hp: 1.5 } }]))).toBe(ErrorCode.FieldType);
    expect(code(frame(1, [{ id: A, typeName: 'player', fields: { x: Number.NaN } }]))).toBe(
      ErrorCode.FieldType,
    );
    expect(code(frame(1, [{ id: A, typeName: 'player', fields: { alive: 1 } }]))).toBe(ErrorCode.FieldType);
    expect(code(frame(1, [{ id: A, typeName: 'player', fields: { hp: -1 } }]))).toBe(ErrorCode.OutOfRange);
    expect(code(frame(1, [{ id: A, typeName: 'player', fields: { speed: 1 } }]))).toBe(
      ErrorCode.UnknownField,
    );
    expect(code(frame(1, [{ id: A, typeName: 'player', fields: { secret: 1 } }]))).toBe(
      ErrorCode.UnknownField,
    );
    expect(code(frame(1, [{ id: A, typeName: 'tree', fields: {} }]))).toBe(ErrorCode.UnknownEntityType);
    expect(code(frame(1, [{ id: 'A', typeName: 'player', fields: {} }]))).toBe(ErrorCode.InvalidEntityId);
    expect(code({ ...welcome(server, []), schema })).toBe(ErrorCode.InvalidSchema);
    expect(server.directory.size).toBe(0);
  });

  it('falls back to untyped op data for entities of unknown type, and types updates of its own creations', () => {
    const { client } = joined();
    const server = new BinaryCodec(schema);
    const update = (id: string): ClientMessage => ({
      type: 'ops',
      stamp: 1,
      seq: 1,
      ops: [{ op: 'update', entityId: id, data: { x: 10, y: 20 } }],
    });
    const untyped = client.encodeClient(update(C));
    expect(value(server.decodeClient(untyped))).toEqual(update(C));
    client.encodeClient({
      type: 'ops',
      stamp: 1,
      seq: 2,
      ops: [{ op: 'create', entityId: C, typeName: 'player', data: {} }],
    });
    const typed = client.encodeClient(update(C));
    expect(typed.byteLength).toBeLessThan(untyped.byteLength);
    const decoded = value(server.decodeClient(typed));
    expect(decoded).toEqual(alignClientMessage(schema, update(C), decoded, () => 'player'));
    // A creation of a type the client's schema lacks reaches the server, which refuses it as under JSON.
    const unknownType: ClientMessage = {
      type: 'ops',
      stamp: 1,
      seq: 3,
      ops: [{ op: 'create', entityId: D, typeName: 'tree', data: { h: 3 } }],
    };
    expect(value(server.decodeClient(client.encodeClient(unknownType)))).toEqual(unknownType);
  });

  it('types update ops of entities learned from frames', () => {
    const { server, client } = joined();
    value(client.decodeServer(server.encodeServer(frame(11, [created(A)]))));
    const m: ClientMessage = {
      type: 'ops',
      stamp: 7,
      seq: 9,
      through: 11,
      ops: [{ op: 'update', frame: 12, entityId: A, data: { x: 1.5 } }],
    };
    const bytes = client.encodeClient(m);
    // tag, flags, stamp, seq, through, count, op header, frame, 16 id bytes, type index, bitset, 2 bytes of x
    expect(bytes.byteLength).toBe(28);
    const decoded = value(server.decodeClient(bytes));
    expect(decoded).toEqual(alignClientMessage(schema, m, decoded, () => 'player'));
  });

  it('reads a view into a larger buffer (a pooled Node Buffer)', () => {
    const { server, client } = joined();
    const m = frame(11, [{ id: B, typeName: 'ball', created: true, fields: { x: 0.1, y: 2 } }]);
    const bytes = server.encodeServer(m);
    const pooled = Buffer.concat([Buffer.from([1, 2, 3]), bytes, Buffer.from([4])]).subarray(
      3,
      3 + bytes.byteLength,
    );
    expect(pooled.byteOffset).toBeGreaterThan(0);
    expectDecoded(client, pooled, m);
    const server2 = new BinaryCodec(schema);
    const ping: ClientMessage = { type: 'ping', id: 1, clientTime: 2.5 };
    const raw = client.encodeClient(ping);
    const view = new Uint8Array(raw.byteLength + 5);
    view.set(raw, 5);
    expect(value(server2.decodeClient(view.subarray(5)))).toEqual(ping);
  });

  it('keeps a leading byte order mark and non-ASCII text', () => {
    const { server, client } = joined();
    const m = frame(11, [
      { id: A, typeName: 'player', created: true, owner: '\ufeffowner', fields: { name: '\ufeffzoë 🎲' } },
    ]);
    expectDecoded(client, server.encodeServer(m), m);
  });

  it('prints bytes per 2-number position update (binary vs JSON)', () => {
    const count = 1000;
    const ids = Array.from(
      { length: count },
      (_, i) => `0190d7a0-0000-7000-8000-${i.toString(16).padStart(12, '0')}`,
    );
    const server = new BinaryCodec(schema);
    server.encodeServer(
      frame(
        1,
        ids.map((id) => created(id)),
      ),
    );
    const update = frame(
      2,
      ids.map((id, i) => moved(id, (i % 2000) - 1000 + 0.123, 500.5)),
    );
    const binary = server.encodeServer(update).byteLength;
    const json = Buffer.byteLength(new JsonCodec().encodeServer(update));
    const frameOverhead = server.encodeServer(frame(3)).byteLength;
    const perBinary = (binary - frameOverhead) / count;
    const perJson = (json - Buffer.byteLength(new JsonCodec().encodeServer(frame(3)))) / count;
    console.log(
      `bytes per 2-number position update (${count} entities): binary ${perBinary.toFixed(2)}, JSON ${perJson.toFixed(2)}`,
    );
    expect(perBinary).toBeLessThan(perJson);
  });
});

describe('binary codec: entity directory', () => {
  it('a client that joined late decodes frames that REF entities defined before it joined', () => {
    const server = new BinaryCodec(schema);
    const early = new BinaryCodec();
    value(early.decodeServer(server.encodeServer(welcome(server, [], 0))));
    value(early.decodeServer(server.encodeServer(frame(1, [created(A), created(B)]))));
    value(early.decodeServer(server.encodeServer(frame(2, [moved(A, 5, 5)]))));

    const late = new BinaryCodec();
    const w = welcome(server, [created(A, 5, 5), created(B)], 2);
    expectDecoded(late, server.encodeServer(w), w);
    expect(late.directory.numberOf(A)).toBe(server.directory.numberOf(A));

    const next = frame(3, [moved(A, 6, 6), moved(B, 7, 7)]);
    const bytes = server.encodeServer(next);
    expect(carriesId(bytes, A) || carriesId(bytes, B)).toBe(false); // REFs only
    expectDecoded(early, bytes, next);
    expectDecoded(late, bytes, next);
  });

  it('a client that missed frames decodes later REFs after a catchup', () => {
    const { server, client } = joined();
    value(client.decodeServer(server.encodeServer(frame(11, [created(A)]))));
    server.encodeServer(frame(12, [created(B)])); // missed (backpressure)
    server.encodeServer(frame(13, [moved(B, 1, 1)])); // missed
    const catchup: ServerMessage = {
      type: 'catchup',
      from: 11,
      to: 13,
      full: false,
      entities: [created(B, 1, 1)],
      removed: [],
    };
    const catchupBytes = server.encodeServer(catchup);
    expect(carriesId(catchupBytes, B)).toBe(true); // catchups define what they mention
    expectDecoded(client, catchupBytes, catchup);
    const next = frame(14, [moved(A, 2, 2), moved(B, 3, 3)]);
    expectDecoded(client, server.encodeServer(next), next);
  });

  it('a client that missed the frame defining an entity gets UNKNOWN_ENTITY_REF (and resyncs)', () => {
    const { server, client } = joined();
    server.encodeServer(frame(11, [created(A)])); // missed
    expectError(
      client.decodeServer(server.encodeServer(frame(12, [moved(A, 1, 1)]))),
      ErrorCode.UnknownEntityRef,
    );
    expect(client.directory.size).toBe(0);
  });

  it("a removed entity's n is never reassigned, and its entry is dropped retainFrames frames later on both sides", () => {
    const server = new BinaryCodec(schema, { retainFrames: 5 });
    const client = new BinaryCodec();
    value(client.decodeServer(server.encodeServer(welcome(server, [], 0))));
    value(client.decodeServer(server.encodeServer(frame(1, [created(A), created(B)]))));
    const nA = server.directory.numberOf(A);
    expect(nA).toBe(1);
    value(client.decodeServer(server.encodeServer(frame(2, [], [A]))));
    for (let f = 3; f < 7; f++) value(client.decodeServer(server.encodeServer(frame(f))));
    expect(server.directory.numberOf(A)).toBe(1); // 4 frames after removal: kept
    expect(client.directory.numberOf(A)).toBe(1);
    value(client.decodeServer(server.encodeServer(frame(7))));
    expect(server.directory.numberOf(A)).toBeUndefined(); // 5 frames after removal: dropped
    expect(client.directory.numberOf(A)).toBeUndefined();
    expect(server.directory.idOf(1)).toBeUndefined();

    const m = frame(8, [created(C), created(A)]);
    expectDecoded(client, server.encodeServer(m), m);
    expect(server.directory.numberOf(C)).toBe(3);
    expect(server.directory.numberOf(A)).toBe(4); // a new n, never 1 again
    expect(client.directory.numberOf(A)).toBe(4);
    expect(client.directory.idOf(1)).toBeUndefined();
  });

  it('an entity created again before its entry is dropped keeps its n', () => {
    const { server, client } = joined();
    value(client.decodeServer(server.encodeServer(frame(11, [created(A)]))));
    value(client.decodeServer(server.encodeServer(frame(12, [], [A]))));
    value(client.decodeServer(server.encodeServer(frame(13, [created(A)]))));
    for (let f = 14; f < 300; f++) value(client.decodeServer(server.encodeServer(frame(f))));
    expect(server.directory.numberOf(A)).toBe(1);
    expect(client.directory.numberOf(A)).toBe(1);
    const next = frame(300, [moved(A, 1, 2)]);
    expectDecoded(client, server.encodeServer(next), next);
  });

  it('a welcome replaces the client directory, including pending drops', () => {
    const server = new BinaryCodec(schema, { retainFrames: 3 });
    const stale = new BinaryCodec();
    value(
      stale.decodeServer(new BinaryCodec(schema).encodeServer(welcome(server, [created(C), created(D)]))),
    );
    expect(stale.directory.numberOf(C)).toBe(1);
    server.encodeServer(frame(11, [created(A), created(B)]));
    server.encodeServer(frame(12, [], [A]));
    value(stale.decodeServer(server.encodeServer(welcome(server, [created(B)], 12))));
    expect(stale.directory.numberOf(C)).toBeUndefined();
    expect(stale.directory.numberOf(A)).toBe(1);
    expect(stale.directory.numberOf(B)).toBe(2);
    expect(stale.directory.size).toBe(server.directory.size);
    for (let f = 13; f <= 15; f++) value(stale.decodeServer(server.encodeServer(frame(f))));
    expect(server.directory.numberOf(A)).toBeUndefined();
    expect(stale.directory.numberOf(A)).toBeUndefined(); // the removal frame travelled in the welcome
  });

  it('entities first defined by a welcome or a catchup are defined again by the next frame', () => {
    const server = new BinaryCodec(schema);
    const member = new BinaryCodec();
    value(member.decodeServer(server.encodeServer(welcome(server, []))));
    const joiner = new BinaryCodec();
    // A exists in the room but no frame mentioned it yet (e.g. loaded from storage).
    value(joiner.decodeServer(server.encodeServer(welcome(server, [created(A)]))));
    value(
      joiner.decodeServer(
        server.encodeServer({
          type: 'catchup',
          from: 10,
          to: 10,
          full: false,
          entities: [created(B)],
          removed: [],
        }),
      ),
    );
    const next = frame(11, [moved(A, 1, 1), moved(B, 2, 2)]);
    const bytes = server.encodeServer(next);
    expect(carriesId(bytes, A) && carriesId(bytes, B)).toBe(true);
    expectDecoded(member, bytes, next);
    expectDecoded(joiner, bytes, next);
    const after = frame(12, [moved(A, 3, 3)]);
    const refBytes = server.encodeServer(after);
    expect(carriesId(refBytes, A)).toBe(false);
    expectDecoded(member, refBytes, after);
  });

  it('an id seen under another type is defined again with its new type', () => {
    const { server, client } = joined();
    value(client.decodeServer(server.encodeServer(frame(11, [created(A)]))));
    const m = frame(12, [{ id: A, typeName: 'ball', created: true, fields: { x: 1, y: 2 } }]);
    expectDecoded(client, server.encodeServer(m), m);
    const next = frame(13, [{ id: A, typeName: 'ball', fields: { x: 3 } }]);
    expectDecoded(client, server.encodeServer(next), next);
  });

  it('removal lists: REF when every member holds n, raw ids otherwise, DEFINE in catchups', () => {
    const { server, client } = joined();
    value(client.decodeServer(server.encodeServer(frame(11, [created(A)]))));
    const removal = frame(12, [], [A, D]);
    const bytes = server.encodeServer(removal);
    expect(carriesId(bytes, A)).toBe(false);
    expect(carriesId(bytes, D)).toBe(true);
    expectDecoded(client, bytes, removal);
    const lagging = new BinaryCodec();
    value(lagging.decodeServer(server.encodeServer(welcome(server, []))));
    const catchup: ServerMessage = {
      type: 'catchup',
      from: 0,
      to: 12,
      full: true,
      entities: [],
      removed: [A, D],
    };
    expectDecoded(lagging, server.encodeServer(catchup), catchup);
  });

  it('a failed encode leaves the directory unchanged', () => {
    const { server, client } = joined();
    expect(() =>
      server.encodeServer(frame(11, [created(A), { id: B, typeName: 'player', fields: { x: 'oops' } }])),
    ).toThrow(P3Error);
    expect(server.directory.size).toBe(0);
    const next = frame(12, [moved(A, 1, 1)]);
    const bytes = server.encodeServer(next);
    expect(carriesId(bytes, A)).toBe(true); // still a DEFINE: the failed frame never went out
    expectDecoded(client, bytes, next);
  });

  it('a failed decode leaves the client directory unchanged', () => {
    const { server, client } = joined();
    const bytes = server.encodeServer(frame(11, [created(A), created(B)]));
    expectError(client.decodeServer(bytes.subarray(0, bytes.byteLength - 1)), ErrorCode.Truncated);
    expect(client.directory.size).toBe(0);
    const corrupt = Uint8Array.from(bytes);
    corrupt[corrupt.byteLength - 1] = 0x7f; // removal count past the end
    expect(client.decodeServer(corrupt).ok).toBe(false);
    expect(client.directory.size).toBe(0);
    value(client.decodeServer(bytes));
    expect(client.directory.size).toBe(2);
  });

  it('a client codec without a schema learns it from welcome (and cannot read frames before)', () => {
    const server = new BinaryCodec(schema);
    const client = new BinaryCodec();
    const early = server.encodeServer(frame(1, [created(A)]));
    expectError(client.decodeServer(early), ErrorCode.UnknownEntityType);
    value(client.decodeServer(server.encodeServer(welcome(server, [created(A)]))));
    expect(client.schema).toEqual(toWireSchema(schema));
    expect(client.schema.player?.fields.secret).toBeUndefined();
  });

  it('many members joining, lagging and catching up all decode what the room sent (seeded fuzz)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(99), fc.nat(99), fc.nat(99)), { minLength: 20, maxLength: 120 }),
        (steps) => {
          simulateRoom(steps);
        },
      ),
      capped({ numRuns: 60, seed: 20240611 }),
    );
  });
});

/**
 * A room of entities changing every frame and members that join (welcome with the world), lag (skip frames,
 * then get a catchup with everything that changed) and leave. Every message a member decodes must equal what
 * the room encoded, with small retainFrames so drops happen.
 */
function simulateRoom(steps: readonly (readonly [number, number, number])[]): void {
  const server = new BinaryCodec(schema, { retainFrames: 4 });
  const world = new Map<string, EntityUpdate>();
  const removedAt = new Map<string, number>();
  type Member = { codec: BinaryCodec; lagFrom: number | undefined; changed: Set<string> };
  const members: Member[] = [];
  let nextId = 1;
  const id = (i: number): string => `0190d7a0-0000-7000-8000-${i.toString(16).padStart(12, '0')}`;
  let frameId = 0;
  const deliver = (member: Member, bytes: Uint8Array, message: ServerMessage): void => {
    const decoded = member.codec.decodeServer(bytes);
    if (!decoded.ok) throw new Error(`member decode failed: ${decoded.error.code} ${decoded.error.message}`);
    expect(decoded.value).toEqual(alignServerMessage(schema, message, decoded.value));
  };
  for (const [a, b, c] of steps) {
    frameId++;
    const entities: EntityUpdate[] = [];
    const removed: string[] = [];
    // creations (sometimes of a recently removed id), moves, removals
    if (a < 30) {
      const recent = [...removedAt.keys()][b % Math.max(1, removedAt.size)];
      const newId = a < 5 && recent !== undefined ? recent : id(nextId++);
      removedAt.delete(newId);
      const u = created(newId, b, c);
      world.set(newId, u);
      entities.push(u);
    }
    for (const key of world.keys()) {
      if ((b + key.charCodeAt(35)) % 3 === 0) entities.push(moved(key, b - 50, c - 50));
    }
    if (a > 80 && world.size > 0) {
      const victim = [...world.keys()][c % world.size] as string;
      world.delete(victim);
      removedAt.set(victim, frameId);
      removed.push(victim);
    }
    const message = frame(
      frameId,
      entities.filter((u) => !removed.includes(u.id) || u.created === true),
      removed,
    );
    const bytes = server.encodeServer(message);
    for (const member of members) {
      for (const u of message.frame.entities) member.changed.add(u.id);
      for (const r of removed) member.changed.add(r);
      if (member.lagFrom === undefined) deliver(member, bytes, message);
    }
    // membership changes
    if (b < 15) {
      const codec = new BinaryCodec();
      const w = welcome(
        server,
        [...world.values()].map((u) => ({ ...u, created: true })),
        frameId,
      );
      deliver({ codec, lagFrom: undefined, changed: new Set() }, server.encodeServer(w), w);
      members.push({ codec, lagFrom: undefined, changed: new Set() });
    }
    const member = members[c % Math.max(1, members.length)];
    if (member !== undefined && b > 70) {
      if (member.lagFrom === undefined) {
        member.lagFrom = frameId;
        member.changed.clear();
      } else {
        const catchupEntities = [...member.changed]
          .filter((k) => world.has(k))
          .map((k) => world.get(k) as EntityUpdate);
        const catchupRemoved = [...member.changed].filter((k) => !world.has(k));
        const catchup: ServerMessage = {
          type: 'catchup',
          from: member.lagFrom,
          to: frameId,
          full: false,
          entities: catchupEntities,
          removed: catchupRemoved,
        };
        deliver(member, server.encodeServer(catchup), catchup);
        member.lagFrom = undefined;
      }
    }
  }
}
