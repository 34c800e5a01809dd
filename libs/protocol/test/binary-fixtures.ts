/**
 * Shared arbitraries and helpers of the binary codec tests: a generated schema and messages that conform to it.
 */
import { expect } from 'vitest';
import fc from 'fast-check';
import {
  ErrorCode,
  NumberEncoding,
  isJsonValue,
  isValidName,
  messageLimits,
  planNumber,
  toWireSchema,
  validateSchema,
  type ClientMessage,
  type EntityTypeSpec,
  type EntityUpdate,
  type FieldSpec,
  type FieldValue,
  type GameEvent,
  type InputState,
  type JsonValue,
  type Op,
  type ServerMessage,
  type WelcomeMessage,
  type WorldSchema,
} from '@p3/protocol';

const reserved = new Set(['id', 'typeName', 'owner', 'input', 'created']);

export const nameArb: fc.Arbitrary<string> = fc
  .oneof(
    { weight: 8, arbitrary: fc.stringMatching(/^[A-Za-z][A-Za-z0-9_]{0,11}$/) },
    { weight: 1, arbitrary: fc.constantFrom('toString', 'valueOf', 'hasOwnProperty', 'x', 'y') },
  )
  .filter((n) => isValidName(n) && !reserved.has(n));

/** JSON data that survives a JSON round trip exactly (no -0) and holds no prototype keys. */
export const jsonArb = (maxDepth = 3): fc.Arbitrary<JsonValue> =>
  fc
    .jsonValue({ maxDepth })
    .map((v) => JSON.parse(JSON.stringify(v)) as JsonValue)
    .filter((v) => isJsonValue(v, 32));

// Schema bounds travel as JSON text in welcome, where -0 becomes 0: generate +0 only.
const boundArb = fc
  .double({ min: -1e6, max: 1e6, noNaN: true, noDefaultInfinity: true })
  .map((v) => (v === 0 ? 0 : v));
const rangeArb = fc.oneof(fc.constant(0), fc.double({ min: 1e-3, max: 1e6, noNaN: true }));
const precisionArb = fc.double({ min: 1e-3, max: 50, noNaN: true });
const intBoundArb = fc.integer({ min: -(2 ** 40), max: 2 ** 40 });

export const fieldSpecArb: fc.Arbitrary<FieldSpec> = fc.oneof(
  fc.constant<FieldSpec>({ dataType: 'boolean' }),
  fc.constant<FieldSpec>({ dataType: 'boolean', default: true }),
  fc.constant<FieldSpec>({ dataType: 'integer' }),
  intBoundArb.map<FieldSpec>((min) => ({ dataType: 'integer', min })),
  intBoundArb.map<FieldSpec>((max) => ({ dataType: 'integer', max })),
  fc.tuple(intBoundArb, fc.integer({ min: 0, max: 2 ** 20 })).map<FieldSpec>(([min, range]) => ({
    dataType: 'integer',
    min,
    max: min + range,
  })),
  fc.constant<FieldSpec>({ dataType: 'number' }),
  fc
    .tuple(boundArb, rangeArb)
    .map<FieldSpec>(([min, range]) => ({ dataType: 'number', min, max: min + range, interpolate: true })),
  fc.tuple(boundArb, rangeArb, precisionArb).map<FieldSpec>(([min, range, precision]) => ({
    dataType: 'number',
    min,
    max: min + range,
    precision,
  })),
  precisionArb.map<FieldSpec>((precision) => ({ dataType: 'number', precision })),
  boundArb.map<FieldSpec>((min) => ({ dataType: 'number', min })),
  fc.constant<FieldSpec>({ dataType: 'string', accessControl: 'client' }),
  fc.constant<FieldSpec>({ dataType: 'json' }),
  fc.constant<FieldSpec>({ dataType: 'number', replicable: false }),
);

const typeSpecArb: fc.Arbitrary<EntityTypeSpec> = fc
  .uniqueArray(fc.tuple(nameArb, fieldSpecArb), { maxLength: 40, selector: ([name]) => name })
  .map((entries) => ({ fields: Object.fromEntries(entries) }));

/** A valid schema of 1 to 4 types of 0 to 40 fields each. */
export const schemaArb: fc.Arbitrary<WorldSchema> = fc
  .uniqueArray(fc.tuple(nameArb, typeSpecArb), { minLength: 1, maxLength: 4, selector: ([name]) => name })
  .map((entries) => Object.fromEntries(entries) as WorldSchema)
  .filter((schema) => validateSchema(schema).ok);

export function fieldValueArb(spec: FieldSpec): fc.Arbitrary<FieldValue> {
  switch (spec.dataType) {
    case 'boolean':
      return fc.boolean();
    case 'integer': {
      const { min, max } = spec;
      if (min !== undefined && max !== undefined) return fc.integer({ min, max });
      if (min !== undefined) return fc.integer({ min, max: min + 2 ** 52 });
      return fc.oneof(fc.integer({ min: -1000, max: 1000 }), fc.maxSafeInteger());
    }
    case 'number': {
      const { min, max } = spec;
      if (min !== undefined && max !== undefined) {
        // Past both ends too: the encoder clamps.
        const span = max - min + 1;
        return fc.double({ min: min - span, max: max + span, noNaN: true, noDefaultInfinity: true });
      }
      if (spec.precision !== undefined) {
        return fc.oneof(
          fc.double({ min: -1e9, max: 1e9, noNaN: true, noDefaultInfinity: true }),
          fc.constantFrom(1e300, -1e300),
        );
      }
      return fc.double({ noNaN: true, noDefaultInfinity: true });
    }
    case 'string':
      return fc.string({ unit: 'binary', maxLength: 30 });
    case 'json':
      return jsonArb();
  }
}

/** A subset of the fields of a type, with values by spec. */
export function fieldsArb(spec: EntityTypeSpec): fc.Arbitrary<Record<string, FieldValue>> {
  const entries = Object.entries(spec.fields).map(([name, field]) => [name, fieldValueArb(field)] as const);
  return fc.record(Object.fromEntries(entries), { requiredKeys: [] }) as fc.Arbitrary<
    Record<string, FieldValue>
  >;
}

export const inputArb: fc.Arbitrary<InputState> = fc.dictionary(nameArb, fc.boolean(), {
  maxKeys: messageLimits.maxInputKeys,
});

const text = (minLength: number, maxLength: number): fc.Arbitrary<string> =>
  fc.string({ unit: 'binary', minLength, maxLength });
const frameNumberArb = fc.integer({ min: 0, max: messageLimits.maxFrame });
const finiteArb = fc.double({ noNaN: true, noDefaultInfinity: true });
const errorCodeArb = fc.constantFrom(...Object.values(ErrorCode));

export function entityUpdateArb(schema: WorldSchema, ids: readonly string[]): fc.Arbitrary<EntityUpdate> {
  const types = Object.keys(schema);
  return fc.tuple(fc.constantFrom(...ids), fc.constantFrom(...types)).chain(([id, typeName]) =>
    fc.record(
      {
        id: fc.constant(id),
        typeName: fc.constant(typeName),
        created: fc.boolean(),
        owner: fc.option(text(1, 40), { nil: null }),
        fields: fieldsArb(schema[typeName] as EntityTypeSpec),
        input: inputArb,
      },
      { requiredKeys: ['id', 'typeName'] },
    ),
  ) as fc.Arbitrary<EntityUpdate>;
}

const eventArb: fc.Arbitrary<GameEvent> = fc.record({
  id: text(1, 40),
  name: text(1, 40),
  type: text(1, 40),
  originalFrame: frameNumberArb,
  data: jsonArb(),
});

/** Every server message type except welcome (which opens a stream: see welcomeArb). */
export function serverMessageArb(schema: WorldSchema, ids: readonly string[]): fc.Arbitrary<ServerMessage> {
  const updates = fc.array(entityUpdateArb(schema, ids), { maxLength: 12 });
  const removed = fc.array(fc.oneof(fc.constantFrom(...ids), fc.uuid()), { maxLength: 4 });
  const seqArb = fc.integer({ min: 0, max: messageLimits.maxSeq });
  const stampArb = fc.integer({ min: 0, max: 0xffffffff });
  return fc.oneof(
    fc.record({
      type: fc.constant('frame' as const),
      frame: fc.record({
        id: frameNumberArb,
        type: fc.constantFrom('verified' as const, 'generated' as const, 'corrected' as const),
        time: finiteArb,
        events: fc.array(eventArb, { maxLength: 3 }),
        entities: updates,
        removed,
      }),
    }),
    fc.record({
      type: fc.constant('catchup' as const),
      from: frameNumberArb,
      to: frameNumberArb,
      full: fc.boolean(),
      entities: updates,
      removed,
    }),
    fc.record(
      {
        type: fc.constant('ack' as const),
        stamp: stampArb,
        seq: seqArb,
        missing: fc.array(
          fc.tuple(
            fc.integer({ min: 1, max: messageLimits.maxSeq }),
            fc.integer({ min: 1, max: messageLimits.maxSeq }),
          ),
          { maxLength: messageLimits.maxMissingRanges },
        ),
      },
      { requiredKeys: ['type', 'stamp', 'seq'] },
    ),
    fc.record({
      type: fc.constant('reject' as const),
      stamp: stampArb,
      seq: seqArb,
      code: errorCodeArb,
      reason: text(0, 200),
    }),
    fc.record({
      type: fc.constant('pong' as const),
      id: stampArb,
      clientTime: finiteArb,
      serverTime: finiteArb,
      frame: frameNumberArb,
    }),
    fc.record({ type: fc.constant('error' as const), code: errorCodeArb, reason: text(0, 200) }),
  );
}

export function welcomeArb(schema: WorldSchema, ids: readonly string[]): fc.Arbitrary<WelcomeMessage> {
  return fc.record({
    type: fc.constant('welcome' as const),
    protocolVersion: fc.integer({ min: 0, max: 0xffff }),
    connectionId: text(1, 40),
    room: text(1, 40),
    schema: fc.constant(toWireSchema(schema)),
    tickRate: fc.integer({ min: 1, max: 1000 }),
    bufferFrame: fc.integer({ min: 0, max: 100_000 }),
    frame: frameNumberArb,
    serverTime: finiteArb,
    lastSeq: fc.integer({ min: 0, max: messageLimits.maxSeq }),
    delta: fc.boolean(),
    entities: fc.array(entityUpdateArb(schema, ids), { maxLength: 12 }),
    removed: fc.array(fc.oneof(fc.constantFrom(...ids), fc.uuid()), { maxLength: 4 }),
  });
}

/** UUIDs starting with one hex digit: keeps pools of ids apart (fc.uuid is biased towards small values). */
export const idArb = (first: string): fc.Arbitrary<string> => fc.uuid().map((u) => first + u.slice(1));

/**
 * Client messages. `known` are entities whose type the client codec knows (typed update ops); updates of other
 * ids use the untyped fallback, as do creations of types missing from the schema.
 */
export function clientMessageArb(
  schema: WorldSchema,
  known: readonly (readonly [string, string])[],
): fc.Arbitrary<ClientMessage> {
  const types = Object.keys(schema);
  const optionalFrame = <T extends object>(arb: fc.Arbitrary<T>): fc.Arbitrary<T> =>
    fc
      .tuple(arb, fc.option(frameNumberArb, { nil: undefined }))
      .map(([op, f]) => (f === undefined ? op : { ...op, ...{ frame: f } }));
  const untypedData = fc.dictionary(nameArb, jsonArb(2), { maxKeys: 8 });
  const opArbs: fc.Arbitrary<Op>[] = [
    optionalFrame(fc.record({ op: fc.constant('input' as const), entityId: fc.uuid(), input: inputArb })),
    optionalFrame(
      fc.constantFrom(...types).chain((typeName) =>
        fc.record({
          op: fc.constant('create' as const),
          entityId: idArb('c'),
          typeName: fc.constant(typeName),
          data: fieldsArb(schema[typeName] as EntityTypeSpec),
        }),
      ),
    ),
    optionalFrame(
      fc.record({
        op: fc.constant('create' as const),
        entityId: idArb('c'),
        typeName: nameArb.filter((n) => !(n in schema)),
        data: untypedData,
      }),
    ),
    optionalFrame(fc.record({ op: fc.constant('update' as const), entityId: idArb('a'), data: untypedData })),
    optionalFrame(fc.record({ op: fc.constant('delete' as const), entityId: idArb('d') })),
    optionalFrame(
      fc.record({
        op: fc.constant('event' as const),
        name: text(1, 40),
        eventType: text(1, 40),
        data: jsonArb(),
      }),
    ),
  ];
  if (known.length > 0) {
    opArbs.push(
      optionalFrame(
        fc.constantFrom(...known).chain(([entityId, typeName]) =>
          fc.record({
            op: fc.constant('update' as const),
            entityId: fc.constant(entityId),
            data: fieldsArb(schema[typeName] as EntityTypeSpec),
          }),
        ),
      ),
    );
  }
  const roomArb = fc.stringMatching(/^[A-Za-z0-9_.:-]{1,40}$/);
  return fc.oneof(
    fc.record(
      {
        type: fc.constant('join' as const),
        protocolVersion: fc.integer({ min: 0, max: 0xffff }),
        room: roomArb,
        clientId: text(1, 40),
        sessionStamp: fc.integer({ min: 0, max: 0xffffffff }),
        token: text(1, 200),
        resumeFrame: frameNumberArb,
      },
      { requiredKeys: ['type', 'protocolVersion', 'room', 'clientId', 'sessionStamp'] },
    ),
    fc.record(
      {
        type: fc.constant('ops' as const),
        stamp: fc.integer({ min: 0, max: 0xffffffff }),
        seq: fc.integer({ min: 1, max: messageLimits.maxSeq }),
        through: frameNumberArb,
        ops: fc.array(fc.oneof(...opArbs), { minLength: 1, maxLength: 10 }),
      },
      { requiredKeys: ['type', 'stamp', 'seq', 'ops'] },
    ),
    fc.record({ type: fc.constant('cover' as const), through: frameNumberArb }),
    fc.record({ type: fc.constant('frameAck' as const), frame: frameNumberArb }),
    fc.record({
      type: fc.constant('ping' as const),
      id: fc.integer({ min: 0, max: 0xffffffff }),
      clientTime: fc.double({ min: 0, noNaN: true, noDefaultInfinity: true }),
    }),
    fc.record({ type: fc.constant('resync' as const), frame: frameNumberArb }),
    fc.constant<ClientMessage>({ type: 'leave' }),
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Comparing with quantization

/** Largest difference a lossy number field may show after a round trip (0: exact). */
export function tolerance(spec: FieldSpec, value: number): number {
  if (spec.dataType !== 'number') return 0;
  const plan = planNumber(spec);
  if (plan.encoding === NumberEncoding.Quantized) {
    return plan.step / 2 + 1e-9 * (Math.abs(plan.min) + Math.abs(plan.max) + plan.step);
  }
  if (plan.encoding === NumberEncoding.Scaled) return plan.step / 2 + 1e-9 * Math.abs(value);
  return 0;
}

/** The value the decoder should give back (within `tolerance`): number fields with bounds are clamped. */
function expectedNumber(spec: FieldSpec, value: number): number {
  const plan = planNumber(spec);
  if (plan.encoding !== NumberEncoding.Quantized) return value;
  return Math.min(plan.max, Math.max(plan.min, value));
}

/** Checks the lossy fields are close and returns `original` with the decoded values in their place. */
export function alignFields(
  spec: EntityTypeSpec,
  original: Record<string, FieldValue>,
  decoded: Record<string, FieldValue> | undefined,
): Record<string, FieldValue> {
  const out: Record<string, FieldValue> = { ...original };
  for (const [name, value] of Object.entries(original)) {
    const field = spec.fields[name];
    if (field === undefined || typeof value !== 'number') continue;
    const tol = tolerance(field, value);
    if (tol === 0) continue;
    const got = decoded?.[name];
    expect(typeof got).toBe('number');
    const diff = Math.abs((got as number) - expectedNumber(field, value));
    if (!(diff <= tol))
      expect.fail(`${name}: ${String(got)} is not within ${tol} of ${value} (${JSON.stringify(field)})`);
    out[name] = got as number;
  }
  return out;
}

function alignUpdates(
  schema: WorldSchema,
  original: readonly EntityUpdate[],
  decoded: readonly EntityUpdate[],
): EntityUpdate[] {
  return original.map((u, i) => {
    const spec = schema[u.typeName];
    if (u.fields === undefined || spec === undefined) return u;
    return { ...u, fields: alignFields(spec, u.fields, decoded[i]?.fields) };
  });
}

/** `original` with lossy number fields replaced by the decoded values once they are checked to be close. */
export function alignServerMessage(
  schema: WorldSchema,
  original: ServerMessage,
  decoded: ServerMessage,
): ServerMessage {
  switch (original.type) {
    case 'frame':
      if (decoded.type !== 'frame') return original;
      return {
        ...original,
        frame: {
          ...original.frame,
          entities: alignUpdates(schema, original.frame.entities, decoded.frame.entities),
        },
      };
    case 'catchup':
    case 'welcome':
      if (decoded.type !== original.type) return original;
      return { ...original, entities: alignUpdates(schema, original.entities, decoded.entities) };
    default:
      return original;
  }
}

/** Same for client ops: `typeOf` gives the type the client codec used for an update op (undefined: untyped). */
export function alignClientMessage(
  schema: WorldSchema,
  original: ClientMessage,
  decoded: ClientMessage,
  typeOf: (entityId: string) => string | undefined,
): ClientMessage {
  if (original.type !== 'ops' || decoded.type !== 'ops') return original;
  const ops = original.ops.map((op, i): Op => {
    const got = decoded.ops[i];
    if (op.op === 'create' || op.op === 'update') {
      const typeName = op.op === 'create' ? op.typeName : typeOf(op.entityId);
      const spec = typeName === undefined ? undefined : schema[typeName];
      if (spec === undefined) return op;
      return {
        ...op,
        data: alignFields(
          spec,
          op.data,
          got !== undefined && 'data' in got ? (got.data as Record<string, FieldValue>) : undefined,
        ),
      };
    }
    return op;
  });
  return { ...original, ops };
}
