/**
 * fast-check arbitraries of valid P3 messages: every value they produce must decode to itself after a JSON round trip.
 * They stay inside the decoders' limits (lengths, ranges, nesting), and avoid the two things JSON cannot carry back:
 * `-0` (it becomes 0) and prototype keys (refused by design).
 */
import fc from 'fast-check';
import {
  ErrorCode,
  isForbiddenKey,
  messageLimits,
  type AckMessage,
  type CatchupMessage,
  type ClientMessage,
  type EntityTypeSpec,
  type EntityUpdate,
  type ErrorMessage,
  type FieldSpec,
  type Frame,
  type FrameMessage,
  type GameEvent,
  type IdleMessage,
  type JoinMessage,
  type JsonValue,
  type Op,
  type OpsMessage,
  type PingMessage,
  type PongMessage,
  type RejectMessage,
  type ServerMessage,
  type WelcomeMessage,
  type WorldSchema,
} from '@p3/protocol';

/** Property runs are seeded so CI is deterministic; set P3_FC_SEED to explore other seeds. Keep failing seeds as named tests. */
export const fcParams = (numRuns = 200): fc.Parameters<unknown> => ({
  numRuns,
  seed: Number(process.env.P3_FC_SEED ?? 0x5eed_0003),
});

const noNegativeZero = (n: number): number => (n === 0 ? 0 : n);

export const finiteDouble = fc.double({ noNaN: true, noDefaultInfinity: true }).map(noNegativeZero);
export const nonNegativeDouble = fc
  .double({ min: 0, noNaN: true, noDefaultInfinity: true })
  .map(noNegativeZero);
export const uuid = fc.uuid();
export const frameNumber = fc.integer({ min: 0, max: messageLimits.maxFrame });
export const uint32 = fc.integer({ min: 0, max: 0xffffffff });
export const seqNumber = fc.integer({ min: 1, max: messageLimits.maxSeq });
export const errorCode = fc.constantFrom(...Object.values(ErrorCode));

/** Any text, including astral and lone-surrogate code points: JSON.stringify escapes what needs escaping. */
const text = (minLength: number, maxLength: number): fc.Arbitrary<string> =>
  fc.string({ unit: 'binary', minLength, maxLength: Math.floor(maxLength / 2) });

/** A schema-style name: letters, digits and _, starting with a letter, never a prototype key. */
export const name = fc.stringMatching(/^[A-Za-z][A-Za-z0-9_]{0,11}$/).filter((n) => !isForbiddenKey(n));
const safeKey = fc.string({ maxLength: 8 }).filter((k) => !isForbiddenKey(k));

export const jsonData: fc.Arbitrary<JsonValue> = fc.letrec<{ value: JsonValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', maxDepth: 3 },
    fc.constant(null),
    fc.boolean(),
    finiteDouble,
    fc.integer(),
    text(0, 16),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(safeKey, tie('value'), { maxKeys: 4, noNullPrototype: true }),
  ),
})).value;

const fieldData = fc.dictionary(name, jsonData, { maxKeys: 6, noNullPrototype: true });
const inputState = fc.dictionary(name, fc.boolean(), { maxKeys: 8, noNullPrototype: true });

// ---------------------------------------------------------------------------------------------------------------
// Client messages

const opFrame = { frame: frameNumber };
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record(
    { op: fc.constant('input'), ...opFrame, entityId: uuid, input: inputState },
    { requiredKeys: ['op', 'entityId', 'input'] },
  ),
  fc.record(
    { op: fc.constant('create'), ...opFrame, entityId: uuid, typeName: name, data: fieldData },
    { requiredKeys: ['op', 'entityId', 'typeName', 'data'] },
  ),
  fc.record(
    { op: fc.constant('update'), ...opFrame, entityId: uuid, data: fieldData },
    { requiredKeys: ['op', 'entityId', 'data'] },
  ),
  fc.record({ op: fc.constant('delete'), ...opFrame, entityId: uuid }, { requiredKeys: ['op', 'entityId'] }),
  // `data` is always present: a decoder turns a missing event payload into null, which would not round-trip.
  fc.record(
    { op: fc.constant('event'), ...opFrame, name: text(1, 128), eventType: text(1, 128), data: jsonData },
    { requiredKeys: ['op', 'name', 'eventType', 'data'] },
  ),
);

const join: fc.Arbitrary<JoinMessage> = fc.record(
  {
    type: fc.constant('join'),
    protocolVersion: fc.integer({ min: 0, max: 0xffff }),
    room: fc.stringMatching(/^[A-Za-z0-9_.:-]{1,40}$/),
    clientId: text(1, messageLimits.maxIdLength),
    sessionStamp: uint32,
    token: text(1, 200),
    resumeFrame: frameNumber,
  },
  { requiredKeys: ['type', 'protocolVersion', 'room', 'clientId', 'sessionStamp'] },
);

const ops: fc.Arbitrary<OpsMessage> = fc.record(
  {
    type: fc.constant('ops'),
    stamp: uint32,
    seq: seqNumber,
    through: frameNumber,
    ops: fc.array(op, { minLength: 1, maxLength: 6 }),
  },
  { requiredKeys: ['type', 'stamp', 'seq', 'ops'] },
);

const ping: fc.Arbitrary<PingMessage> = fc.record({
  type: fc.constant('ping'),
  id: uint32,
  clientTime: nonNegativeDouble,
});

/** Arbitraries keyed by client message type, so a test can name the type it runs. */
export const clientMessageByType: {
  [K in ClientMessage['type']]: fc.Arbitrary<Extract<ClientMessage, { type: K }>>;
} = {
  join,
  ops,
  cover: fc.record({ type: fc.constant('cover'), through: frameNumber }),
  frameAck: fc.record({ type: fc.constant('frameAck'), frame: frameNumber }),
  ping,
  resync: fc.record({ type: fc.constant('resync'), frame: frameNumber }),
  leave: fc.record({ type: fc.constant('leave') }),
};

// ---------------------------------------------------------------------------------------------------------------
// Server messages

const access = fc.constantFrom('client', 'server', 'seed') as fc.Arbitrary<'client' | 'server' | 'seed'>;
const common = { accessControl: access, replicable: fc.boolean() };
const ordered = (a: number, b: number): [number, number] => (a <= b ? [a, b] : [b, a]);

const numberField: fc.Arbitrary<FieldSpec> = fc
  .tuple(
    fc.record(
      {
        dataType: fc.constant('number'),
        interpolate: fc.boolean(),
        precision: fc.double({ min: 1e-6, max: 1e6, noNaN: true }),
        ...common,
      },
      { requiredKeys: ['dataType'] },
    ),
    fc.option(fc.tuple(finiteDouble, finiteDouble), { nil: undefined }),
  )
  .map(([spec, bounds]) => {
    if (bounds === undefined) return spec;
    const [min, max] = ordered(...bounds);
    return { ...spec, min, max, default: min };
  });

const integerField: fc.Arbitrary<FieldSpec> = fc
  .tuple(
    fc.record(
      { dataType: fc.constant('integer'), interpolate: fc.boolean(), ...common },
      { requiredKeys: ['dataType'] },
    ),
    fc.integer(),
    fc.integer(),
  )
  .map(([spec, a, b]) => {
    const [min, max] = ordered(a, b);
    return { ...spec, min, max, default: max };
  });

const stringField: fc.Arbitrary<FieldSpec> = fc
  .tuple(
    fc.record({ dataType: fc.constant('string'), ...common }, { requiredKeys: ['dataType'] }),
    fc.integer({ min: 16, max: 1 << 16 }),
    fc.option(text(0, 16), { nil: undefined }),
  )
  .map(([spec, maxLength, value]) =>
    value === undefined ? { ...spec, maxLength } : { ...spec, maxLength, default: value },
  );

const fieldSpec: fc.Arbitrary<FieldSpec> = fc.oneof(
  numberField,
  integerField,
  stringField,
  fc.record(
    { dataType: fc.constant('boolean'), default: fc.boolean(), ...common },
    { requiredKeys: ['dataType'] },
  ),
  fc.record({ dataType: fc.constant('json'), default: jsonData, ...common }, { requiredKeys: ['dataType'] }),
);

const reserved = new Set(['id', 'typeName', 'owner', 'input', 'created']);
const entityType: fc.Arbitrary<EntityTypeSpec> = fc.record(
  {
    fields: fc.dictionary(
      name.filter((n) => !reserved.has(n)),
      fieldSpec,
      { maxKeys: 5, noNullPrototype: true },
    ),
    connectionBound: fc.boolean(),
  },
  { requiredKeys: ['fields'] },
);
export const worldSchema: fc.Arbitrary<WorldSchema> = fc.dictionary(name, entityType, {
  maxKeys: 3,
  noNullPrototype: true,
});

const entityUpdate: fc.Arbitrary<EntityUpdate> = fc.record(
  {
    id: uuid,
    typeName: text(1, 64),
    created: fc.boolean(),
    owner: fc.option(text(1, messageLimits.maxIdLength), { nil: null }),
    fields: fc.dictionary(safeKey, jsonData, { maxKeys: 5, noNullPrototype: true }),
    input: fc.dictionary(safeKey, fc.boolean(), { maxKeys: 5, noNullPrototype: true }),
  },
  { requiredKeys: ['id', 'typeName'] },
);
const entities = fc.array(entityUpdate, { maxLength: 4 });
const removed = fc.array(uuid, { maxLength: 4 });

const gameEvent: fc.Arbitrary<GameEvent> = fc.record({
  id: text(1, 256),
  name: text(1, 128),
  type: text(1, 128),
  originalFrame: frameNumber,
  data: jsonData,
});

const frame: fc.Arbitrary<Frame> = fc.record({
  id: frameNumber,
  type: fc.constantFrom('verified', 'generated', 'corrected') as fc.Arbitrary<
    'verified' | 'generated' | 'corrected'
  >,
  time: finiteDouble,
  events: fc.array(gameEvent, { maxLength: 3 }),
  entities,
  removed,
});

/** A frame message, with or without `prev` (any frame below the frame's id). */
const frameMessage: fc.Arbitrary<FrameMessage> = fc
  .tuple(frame, fc.option(fc.nat(), { nil: undefined }))
  .map(([f, back]): FrameMessage =>
    back === undefined || f.id === 0
      ? { type: 'frame', frame: f }
      : { type: 'frame', frame: f, prev: f.id - 1 - (back % f.id) },
  );

const idle: fc.Arbitrary<IdleMessage> = fc
  .tuple(frameNumber, frameNumber)
  .filter(([a, b]) => a !== b)
  .map(([a, b]) => ({ type: 'idle', prev: Math.min(a, b), through: Math.max(a, b) }));

const welcome: fc.Arbitrary<WelcomeMessage> = fc.record({
  type: fc.constant('welcome'),
  protocolVersion: fc.integer({ min: 0, max: 0xffff }),
  connectionId: text(1, messageLimits.maxIdLength),
  room: text(1, messageLimits.maxRoomLength),
  schema: worldSchema,
  tickRate: fc.integer({ min: 1, max: 1000 }),
  bufferFrame: fc.integer({ min: 0, max: 100_000 }),
  frame: frameNumber,
  serverTime: finiteDouble,
  lastSeq: fc.integer({ min: 0, max: messageLimits.maxSeq }),
  delta: fc.boolean(),
  entities,
  removed,
});

const catchup: fc.Arbitrary<CatchupMessage> = fc.record({
  type: fc.constant('catchup'),
  from: frameNumber,
  to: frameNumber,
  full: fc.boolean(),
  entities,
  removed,
});

const ack: fc.Arbitrary<AckMessage> = fc.record(
  {
    type: fc.constant('ack'),
    stamp: uint32,
    seq: fc.integer({ min: 0, max: messageLimits.maxSeq }),
    missing: fc.array(
      fc.tuple(seqNumber, seqNumber).map(([a, b]) => ordered(a, b)),
      { maxLength: messageLimits.maxMissingRanges },
    ),
  },
  { requiredKeys: ['type', 'stamp', 'seq'] },
);

const reject: fc.Arbitrary<RejectMessage> = fc.record({
  type: fc.constant('reject'),
  stamp: uint32,
  seq: fc.integer({ min: 0, max: messageLimits.maxSeq }),
  code: errorCode,
  reason: text(0, 1024),
});

const pong: fc.Arbitrary<PongMessage> = fc.record({
  type: fc.constant('pong'),
  id: uint32,
  clientTime: finiteDouble,
  serverTime: finiteDouble,
  frame: frameNumber,
});

const error: fc.Arbitrary<ErrorMessage> = fc.record({
  type: fc.constant('error'),
  code: errorCode,
  reason: text(0, 1024),
});

export const serverMessageByType: {
  [K in ServerMessage['type']]: fc.Arbitrary<Extract<ServerMessage, { type: K }>>;
} = {
  welcome,
  frame: frameMessage,
  idle,
  catchup,
  ack,
  reject,
  pong,
  error,
};
