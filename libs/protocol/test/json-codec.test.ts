import fc from 'fast-check';
import { capped } from './property-cap.js';
import { describe, expect, it } from 'vitest';
import {
  defaultCodecLimits,
  ErrorCode,
  JsonCodec,
  messageLimits,
  validateClientMessage,
  validateServerMessage,
  type ClientMessage,
  type JsonValue,
  type ServerMessage,
} from '@p3/protocol';
import { clientMessageByType, fcParams, serverMessageByType } from './json-arbitraries.js';
import {
  clientSamples,
  entityA,
  entityC,
  expectFailure,
  manyKeys,
  serverSamples,
  withValue,
  type Path,
} from './json-fixtures.js';

const codec = new JsonCodec();
const utf8 = new TextEncoder();

/** One refused variant of a valid sample: the value at `path` replaced (or removed, with undefined). */
interface Refusal {
  readonly name: string;
  readonly wire: string;
  readonly code: ErrorCode;
  readonly detail?: string;
}

function refusals<S extends Record<string, object>>(
  samples: S,
  sample: keyof S & string,
  path: Path,
  values: readonly unknown[],
  detail: string | undefined,
  code: ErrorCode = ErrorCode.InvalidMessage,
): Refusal[] {
  const base = samples[sample];
  if (base === undefined) throw new Error(`no sample ${sample}`);
  return values.map((value) => ({
    name: `${sample}.${path.join('.')} = ${value === undefined ? '(missing)' : shortJson(value)} -> ${code}`,
    wire: withValue(base, path, value),
    code,
    ...(detail === undefined ? {} : { detail }),
  }));
}

function shortJson(value: unknown): string {
  const text = JSON.stringify(value);
  return text.length > 40 ? `${text.slice(0, 30)}... (${text.length} chars)` : text;
}

const missing = undefined;

describe('JsonCodec: every client message type', () => {
  it.each(Object.entries(clientSamples))('decodes a valid %s', (_, message) => {
    expect(codec.decodeClient(JSON.stringify(message))).toEqual({ ok: true, value: message });
  });

  it.each(Object.entries(clientSamples))('decodes a valid %s from UTF-8 bytes', (_, message) => {
    expect(codec.decodeClient(utf8.encode(JSON.stringify(message)))).toEqual({ ok: true, value: message });
  });

  it.each(Object.entries(clientSamples))('validateClientMessage accepts a parsed %s', (_, message) => {
    expect(validateClientMessage(JSON.parse(JSON.stringify(message)) as JsonValue)).toEqual({
      ok: true,
      value: message,
    });
  });

  const accepted: ReadonlyArray<[string, object, object]> = [
    [
      'join without token and resumeFrame',
      { ...clientSamples.join, token: missing, resumeFrame: missing },
      {
        type: 'join',
        protocolVersion: 1,
        room: 'lobby-1',
        clientId: 'client-7',
        sessionStamp: 1_700_000_000,
      },
    ],
    [
      'join at the bounds',
      {
        ...clientSamples.join,
        protocolVersion: 0xffff,
        sessionStamp: 0xffffffff,
        resumeFrame: messageLimits.maxFrame,
        room: 'r'.repeat(128),
        clientId: 'c'.repeat(128),
      },
      {},
    ],
    ['join with every room character', { ...clientSamples.join, room: 'Az09_.:-' }, {}],
    ['ops at seq bounds', { ...clientSamples.ops, seq: messageLimits.maxSeq, stamp: 0 }, {}],
    [
      'ops with maxOpsPerMessage ops',
      { ...clientSamples.ops, ops: Array.from({ length: 256 }, () => ({ op: 'delete', entityId: entityA })) },
      {},
    ],
    [
      'an input op with 32 keys and one with none',
      {
        ...clientSamples.ops,
        ops: [
          { op: 'input', entityId: entityA, input: manyKeys(32, () => true) },
          { op: 'input', entityId: entityA, input: {} },
        ],
      },
      {},
    ],
    [
      'an update op with 128 data keys',
      { ...clientSamples.ops, ops: [{ op: 'update', entityId: entityA, data: manyKeys(128, (i) => i) }] },
      {},
    ],
    ['ping with clientTime 0', { ...clientSamples.ping, clientTime: 0 }, {}],
  ];
  it.each(accepted)('accepts %s', (_, message, expected) => {
    const result = codec.decodeClient(JSON.stringify(message));
    expect(result.ok).toBe(true);
    if (result.ok && Object.keys(expected).length > 0) expect(result.value).toEqual(expected);
  });

  it('turns a missing event payload into null', () => {
    const result = codec.decodeClient(withValue(clientSamples.ops, ['ops', 4, 'data'], missing));
    expect(result.ok && result.value.type === 'ops' && result.value.ops[4]).toEqual({
      op: 'event',
      name: 'chat',
      eventType: 'message',
      data: null,
    });
  });

  it('drops unknown fields instead of copying them', () => {
    const result = codec.decodeClient('{"type":"leave","extra":{"a":1},"frame":3}');
    expect(result).toEqual({ ok: true, value: { type: 'leave' } });
    const op = codec.decodeClient(withValue(clientSamples.ops, ['ops', 3, 'extra'], true));
    expect(op.ok && op.value.type === 'ops' && op.value.ops[3]).toEqual({ op: 'delete', entityId: entityC });
  });
});

describe('JsonCodec: client messages refused field by field', () => {
  const s = clientSamples;
  const upper = entityA.toUpperCase();
  const table: Refusal[] = [
    ...refusals(s, 'join', ['protocolVersion'], [missing, '1', -1, 1.5, 0x10000, null], 'protocolVersion'),
    ...refusals(s, 'join', ['room'], [missing, '', 'r'.repeat(129), 'two words', 'a/b', 'é', 5], 'room'),
    ...refusals(s, 'join', ['clientId'], [missing, '', 'c'.repeat(129), 7, null], 'clientId'),
    ...refusals(s, 'join', ['sessionStamp'], [missing, -1, 2 ** 32, 0.5, '1'], 'sessionStamp'),
    ...refusals(s, 'join', ['token'], ['', 't'.repeat(8193), 5, null], 'token'),
    ...refusals(s, 'join', ['resumeFrame'], [-1, messageLimits.maxFrame + 1, 1.5, '3', null], 'resumeFrame'),

    ...refusals(s, 'ops', ['stamp'], [missing, -1, 2 ** 32, 1.5, '1'], 'stamp'),
    ...refusals(s, 'ops', ['seq'], [missing, 0, -1, 1.5, 2 ** 31, '5'], 'seq'),
    ...refusals(s, 'ops', ['through'], [-1, 1.5, null, '4'], 'through'),
    ...refusals(s, 'ops', ['ops'], [missing, {}, 'x', null, []], 'ops'),
    ...refusals(
      s,
      'ops',
      ['ops'],
      [Array.from({ length: 257 }, () => ({ op: 'delete', entityId: entityA }))],
      'ops',
    ),
    ...refusals(s, 'ops', ['ops', 0], [5, null, [], 'input'], 'ops[0]'),
    ...refusals(s, 'ops', ['ops', 2], [5], 'ops[2]'),
    ...refusals(s, 'ops', ['ops', 0, 'op'], [missing, 'explode', 'INPUT', 5], 'op'),
    ...refusals(s, 'ops', ['ops', 0, 'frame'], [-1, 1.5, '1', null], 'ops[0].frame'),
    ...refusals(s, 'ops', ['ops', 1, 'frame'], [messageLimits.maxFrame + 1], 'ops[1].frame'),
    // input
    ...refusals(s, 'ops', ['ops', 0, 'entityId'], [missing, 'abc', upper, `${entityA}0`, 5], 'entityId'),
    ...refusals(s, 'ops', ['ops', 0, 'input'], [missing, [], 'up', null], 'input'),
    ...refusals(s, 'ops', ['ops', 0, 'input', 'up'], [1, 'true', null], 'input.up'),
    ...refusals(s, 'ops', ['ops', 0, 'input', '1up'], [true], 'input'),
    ...refusals(s, 'ops', ['ops', 0, 'input', 'with space'], [true], 'input'),
    ...refusals(s, 'ops', ['ops', 0, 'input'], [manyKeys(33, () => true)], 'input'),
    // create
    ...refusals(s, 'ops', ['ops', 1, 'entityId'], [missing, null], 'entityId'),
    ...refusals(
      s,
      'ops',
      ['ops', 1, 'typeName'],
      [missing, '', '1bad', 'has-dash', 'x'.repeat(65), 'constructor', 5],
      'typeName',
    ),
    ...refusals(s, 'ops', ['ops', 1, 'data'], [missing, [], 5, null, 'x'], 'data'),
    ...refusals(s, 'ops', ['ops', 1, 'data', 'bad key'], [1], 'data'),
    ...refusals(s, 'ops', ['ops', 1, 'data'], [manyKeys(129, () => 0)], 'data'),
    // update
    ...refusals(s, 'ops', ['ops', 2, 'entityId'], [missing, 'abc'], 'entityId'),
    ...refusals(s, 'ops', ['ops', 2, 'data'], [missing, [1]], 'data'),
    // delete
    ...refusals(s, 'ops', ['ops', 3, 'entityId'], [missing, upper, 0], 'entityId'),
    // event
    ...refusals(s, 'ops', ['ops', 4, 'name'], [missing, '', 'n'.repeat(129), 5], 'name'),
    ...refusals(s, 'ops', ['ops', 4, 'eventType'], [missing, '', 'e'.repeat(129), false], 'eventType'),

    ...refusals(s, 'cover', ['through'], [missing, -1, messageLimits.maxFrame + 1, '1', 2.5], 'through'),
    ...refusals(s, 'frameAck', ['frame'], [missing, -1, 1.5, null], 'frame'),
    ...refusals(s, 'ping', ['id'], [missing, -1, 2 ** 32, 1.5], 'id'),
    ...refusals(s, 'ping', ['clientTime'], [missing, -1, -0.001, '1', null], 'clientTime'),
    ...refusals(s, 'resync', ['frame'], [missing, -1, '0'], 'frame'),

    ...refusals(
      s,
      'leave',
      ['type'],
      [missing, 'nope', 'Leave', 5, null, 'welcome', 'toString', '__proto__'],
      undefined,
      ErrorCode.UnknownMessageType,
    ),
    ...refusals(s, 'join', ['type'], ['ack'], undefined, ErrorCode.UnknownMessageType),
  ];

  it.each(table)('$name', ({ wire, code, detail }) => {
    expectFailure(codec.decodeClient(wire), code, detail);
  });

  it.each([
    ['a number', '5'],
    ['a string', '"join"'],
    ['an array', '[{"type":"leave"}]'],
    ['null', 'null'],
    ['a boolean', 'true'],
  ])('refuses %s as a message with INVALID_MESSAGE', (_, wire) => {
    expectFailure(codec.decodeClient(wire), ErrorCode.InvalidMessage, 'message');
  });

  it('reports an unknown type before checking other fields', () => {
    expectFailure(codec.decodeClient('{"type":"nope","ops":5,"seq":-1}'), ErrorCode.UnknownMessageType);
  });
});

describe('client messages: prototype keys', () => {
  const entity = `"entityId":"${entityA}"`;
  const cases: ReadonlyArray<[string, string, string]> = [
    [
      'an input key',
      `{"type":"ops","stamp":1,"seq":1,"ops":[{"op":"input",${entity},"input":{"__proto__":true}}]}`,
      '__proto__',
    ],
    [
      'a data key',
      `{"type":"ops","stamp":1,"seq":1,"ops":[{"op":"update",${entity},"data":{"constructor":{"x":1}}}]}`,
      'constructor',
    ],
    [
      'an update data key __proto__',
      `{"type":"ops","stamp":1,"seq":1,"ops":[{"op":"update",${entity},"data":{"__proto__":{"x":1}}}]}`,
      '__proto__',
    ],
    [
      'a create data key',
      `{"type":"ops","stamp":1,"seq":1,"ops":[{"op":"create",${entity},"typeName":"T","data":{"prototype":1}}]}`,
      'prototype',
    ],
  ];

  it.each(cases)('validateClientMessage refuses %s with PROTOTYPE_KEY', (_, wire, key) => {
    // JSON.parse (unlike parseJson) lets the key through: the validator must refuse it on its own.
    expectFailure(validateClientMessage(JSON.parse(wire) as JsonValue), ErrorCode.PrototypeKey, key);
  });

  it.each([
    ...cases,
    ['a top-level key', '{"type":"leave","__proto__":{"type":"join"}}', '__proto__'],
    [
      'a key deep in event data',
      '{"type":"ops","stamp":1,"seq":1,"ops":[{"op":"event","name":"n","eventType":"t","data":[{"a":{"constructor":1}}]}]}',
      'constructor',
    ],
  ])('the codec refuses %s with PROTOTYPE_KEY', (_, wire, key) => {
    expectFailure(codec.decodeClient(wire), ErrorCode.PrototypeKey, key);
  });
});

describe('JsonCodec: every server message type', () => {
  it.each(Object.entries(serverSamples))('decodes a valid %s', (_, message) => {
    expect(codec.decodeServer(JSON.stringify(message))).toEqual({ ok: true, value: message });
  });

  it.each(Object.entries(serverSamples))('decodes a valid %s from UTF-8 bytes', (_, message) => {
    expect(codec.decodeServer(utf8.encode(JSON.stringify(message)))).toEqual({ ok: true, value: message });
  });

  it.each(Object.entries(serverSamples))('validateServerMessage accepts a parsed %s', (_, message) => {
    expect(validateServerMessage(JSON.parse(JSON.stringify(message)) as JsonValue)).toEqual({
      ok: true,
      value: message,
    });
  });

  it.each([
    ['ack without missing ranges', { ...serverSamples.ack, missing: missing }],
    ['ack with seq 0 and a one-seq range', { ...serverSamples.ack, seq: 0, missing: [[1, 1]] }],
    [
      'ack with 64 ranges',
      { ...serverSamples.ack, missing: Array.from({ length: 64 }, (_, i) => [i + 1, i + 1]) },
    ],
    ['reject with an empty reason', { ...serverSamples.reject, reason: '' }],
    ['error with a 1024-character reason', { ...serverSamples.error, reason: 'r'.repeat(1024) }],
    ['welcome with an empty world', { ...serverSamples.welcome, schema: {}, entities: [], removed: [] }],
    [
      'frame of each authoritative type',
      { type: 'frame', frame: { ...serverSamples.frame.frame, type: 'corrected' } },
    ],
    ['an event without data', withObject(serverSamples.frame, ['frame', 'events', 0, 'data'], missing)],
  ])('accepts %s', (_, message) => {
    expect(codec.decodeServer(JSON.stringify(message)).ok).toBe(true);
  });
});

/** withValue, parsed back into an object. */
function withObject(message: object, path: Path, value: unknown): object {
  return JSON.parse(withValue(message, path, value)) as object;
}

describe('JsonCodec: server messages refused field by field', () => {
  const s = serverSamples;
  const e0 = ['entities', 0] as const;
  const f = ['frame'] as const;
  const table: Refusal[] = [
    ...refusals(s, 'welcome', ['protocolVersion'], [missing, -1, 0x10000, '1'], 'protocolVersion'),
    ...refusals(s, 'welcome', ['connectionId'], [missing, '', 'c'.repeat(129), 5], 'connectionId'),
    ...refusals(s, 'welcome', ['room'], [missing, '', 'r'.repeat(129), 5], 'room'),
    ...refusals(
      s,
      'welcome',
      ['schema'],
      [missing, [], 'x', null, { T: { fields: { id: { dataType: 'number' } } } }],
      undefined,
      ErrorCode.InvalidSchema,
    ),
    ...refusals(
      s,
      'welcome',
      ['schema', 'Player', 'fields', 'x', 'min'],
      [1000],
      'x',
      ErrorCode.InvalidSchema,
    ),
    ...refusals(s, 'welcome', ['tickRate'], [missing, 0, 1001, 1.5], 'tickRate'),
    ...refusals(s, 'welcome', ['bufferFrame'], [missing, -1, 100_001], 'bufferFrame'),
    ...refusals(s, 'welcome', ['frame'], [missing, -1, messageLimits.maxFrame + 1], 'frame'),
    ...refusals(s, 'welcome', ['serverTime'], [missing, '1', null], 'serverTime'),
    ...refusals(s, 'welcome', ['lastSeq'], [missing, -1, 2 ** 31], 'lastSeq'),
    ...refusals(s, 'welcome', ['delta'], [missing, 'true', 1, null], 'delta'),
    ...refusals(s, 'welcome', ['entities'], [missing, {}, null], 'entities'),
    ...refusals(s, 'welcome', [...e0], [5, null, []], 'entity'),
    ...refusals(s, 'welcome', [...e0, 'id'], [missing, 'x', entityA.toUpperCase()], 'entity.id'),
    ...refusals(s, 'welcome', [...e0, 'typeName'], [missing, '', 't'.repeat(65), 5], 'entity.typeName'),
    ...refusals(s, 'welcome', [...e0, 'created'], ['yes', 1, null], 'created'),
    ...refusals(s, 'welcome', [...e0, 'owner'], [5, '', 'o'.repeat(129), false], 'owner'),
    ...refusals(s, 'welcome', [...e0, 'fields'], [[], 5, null], 'fields'),
    ...refusals(s, 'welcome', [...e0, 'input'], [[], null], 'input'),
    ...refusals(s, 'welcome', [...e0, 'input', 'up'], [1, 'yes'], 'input.up'),
    ...refusals(s, 'welcome', ['removed'], [missing, 'x'], 'removed'),
    ...refusals(s, 'welcome', ['removed', 0], ['not-a-uuid', 5], 'removed'),

    ...refusals(s, 'frame', [...f], [missing, 5, []], 'frame'),
    ...refusals(s, 'frame', [...f, 'type'], [missing, 'predicted', 'x', 5], 'frame.type'),
    ...refusals(s, 'frame', [...f, 'id'], [missing, -1, 1.5], 'frame.id'),
    ...refusals(s, 'frame', [...f, 'time'], [missing, '0', null], 'frame.time'),
    ...refusals(s, 'frame', [...f, 'events'], [missing, {}], 'events'),
    ...refusals(s, 'frame', [...f, 'events', 0], [5, null], 'event'),
    ...refusals(s, 'frame', [...f, 'events', 0, 'id'], [missing, '', 'e'.repeat(257)], 'event.id'),
    ...refusals(s, 'frame', [...f, 'events', 0, 'name'], [missing, '', 'n'.repeat(129)], 'event.name'),
    ...refusals(s, 'frame', [...f, 'events', 0, 'type'], [missing, 5], 'event.type'),
    ...refusals(s, 'frame', [...f, 'events', 0, 'originalFrame'], [missing, -1, '1'], 'event.originalFrame'),
    ...refusals(s, 'frame', [...f, 'entities'], [missing], 'entities'),
    ...refusals(s, 'frame', [...f, 'entities', 1, 'id'], [5], 'entity.id'),
    ...refusals(s, 'frame', [...f, 'removed'], [missing, [5]], 'removed'),

    ...refusals(s, 'catchup', ['from'], [missing, -1], 'from'),
    ...refusals(s, 'catchup', ['to'], [missing, 1.5], 'to'),
    ...refusals(s, 'catchup', ['full'], [missing, 'no'], 'full'),
    ...refusals(s, 'catchup', ['entities'], [missing], 'entities'),
    ...refusals(s, 'catchup', ['entities', 0, 'owner'], [0], 'owner'),
    ...refusals(s, 'catchup', ['removed'], [missing, [null]], 'removed'),

    ...refusals(s, 'ack', ['stamp'], [missing, -1, 2 ** 32], 'stamp'),
    ...refusals(s, 'ack', ['seq'], [missing, -1, 1.5, 2 ** 31], 'seq'),
    ...refusals(s, 'ack', ['missing'], ['x', {}, null], 'missing'),
    ...refusals(s, 'ack', ['missing'], [Array.from({ length: 65 }, (_, i) => [i + 1, i + 1])], 'missing'),
    ...refusals(s, 'ack', ['missing', 0], [5, null], 'missing range'),
    ...refusals(s, 'ack', ['missing', 0], [[1, 2, 3]], 'missing range'),
    ...refusals(s, 'ack', ['missing', 0], [[1], []], 'missing'),
    ...refusals(s, 'ack', ['missing', 0], [[14, 12]], 'missing'),
    ...refusals(s, 'ack', ['missing', 0, 0], [0, '12', -1], 'from'),
    ...refusals(s, 'ack', ['missing', 1, 1], [2 ** 31, null], 'to'),

    ...refusals(s, 'reject', ['stamp'], [missing], 'stamp'),
    ...refusals(s, 'reject', ['seq'], [missing, -1], 'seq'),
    ...refusals(s, 'reject', ['code'], [missing, 'NOPE', 'out_of_range', '', 5], 'code'),
    ...refusals(s, 'reject', ['reason'], [missing, 'r'.repeat(1025), 5, null], 'reason'),
    ...refusals(s, 'pong', ['id'], [missing, -1, 2 ** 32], 'id'),
    ...refusals(s, 'pong', ['clientTime'], [missing, '1'], 'clientTime'),
    ...refusals(s, 'pong', ['serverTime'], [missing, false], 'serverTime'),
    ...refusals(s, 'pong', ['frame'], [missing, -1], 'frame'),
    ...refusals(s, 'error', ['code'], [missing, 'WHATEVER'], 'code'),
    ...refusals(s, 'error', ['reason'], [missing, 'r'.repeat(1025)], 'reason'),

    ...refusals(
      s,
      'error',
      ['type'],
      [missing, 'join', 'ping', 'nope', 5, null, 'constructor'],
      undefined,
      ErrorCode.UnknownMessageType,
    ),
  ];

  it.each(table)('$name', ({ wire, code, detail }) => {
    expectFailure(codec.decodeServer(wire), code, detail);
  });

  it.each([
    [
      'entity fields',
      `{"type":"catchup","from":0,"to":1,"full":true,"removed":[],"entities":[{"id":"${entityA}","typeName":"T","fields":{"__proto__":{}}}]}`,
      '__proto__',
    ],
    [
      'entity input',
      `{"type":"catchup","from":0,"to":1,"full":true,"removed":[],"entities":[{"id":"${entityA}","typeName":"T","input":{"constructor":true}}]}`,
      'constructor',
    ],
  ])('refuses a prototype key in %s with PROTOTYPE_KEY (validator and codec)', (_, wire, key) => {
    expectFailure(validateServerMessage(JSON.parse(wire) as JsonValue), ErrorCode.PrototypeKey, key);
    expectFailure(codec.decodeServer(wire), ErrorCode.PrototypeKey, key);
  });

  it('refuses a prototype key in a welcome schema', () => {
    const wire = JSON.stringify(serverSamples.welcome).replace('"Ball":', '"__proto__":');
    expectFailure(validateServerMessage(JSON.parse(wire) as JsonValue), ErrorCode.InvalidSchema, '__proto__');
    expectFailure(codec.decodeServer(wire), ErrorCode.PrototypeKey, '__proto__');
  });
});

describe('JsonCodec: limits', () => {
  it('has the name json and the default limits', () => {
    expect(codec.name).toBe('json');
    expect(codec.limits).toEqual(defaultCodecLimits);
  });

  it('applies maxMessageBytes to client text and bytes', () => {
    const small = new JsonCodec({ maxMessageBytes: 64 });
    const wire = JSON.stringify({ ...clientSamples.join, token: 'x'.repeat(30) });
    expect(wire.length).toBeGreaterThan(64);
    expectFailure(small.decodeClient(wire), ErrorCode.TooLarge);
    expectFailure(small.decodeClient(utf8.encode(wire)), ErrorCode.TooLarge);
    expect(small.decodeClient('{"type":"leave"}').ok).toBe(true);
  });

  it('counts UTF-8 bytes for binary input and UTF-16 units for text', () => {
    const small = new JsonCodec({ maxMessageBytes: 40 });
    const wire = `{"type":"leave","n":"${'é'.repeat(16)}"}`; // 39 characters, 55 bytes
    expect(wire.length).toBe(39);
    expect(small.decodeClient(wire).ok).toBe(true);
    expectFailure(small.decodeClient(utf8.encode(wire)), ErrorCode.TooLarge);
  });

  it('applies maxDepth', () => {
    const shallow = new JsonCodec({ maxDepth: 2 });
    expect(shallow.decodeClient('{"type":"leave","a":[]}').ok).toBe(true);
    expectFailure(shallow.decodeClient('{"type":"leave","a":[[]]}'), ErrorCode.TooDeep);
    expectFailure(
      codec.decodeClient(`{"type":"leave","a":${'['.repeat(16)}${']'.repeat(16)}}`),
      ErrorCode.TooDeep,
    );
  });

  it('accepts server messages larger than the client limit', () => {
    const small = new JsonCodec({ maxMessageBytes: 64 });
    const wire = JSON.stringify({ ...serverSamples.error, reason: 'r'.repeat(500) });
    expect(small.decodeServer(wire).ok).toBe(true);
    expectFailure(small.decodeClient(wire), ErrorCode.TooLarge);
  });

  it('keeps the defaults for limits given as undefined', () => {
    const partial = new JsonCodec({ maxDepth: undefined, maxMessageBytes: undefined });
    expect(partial.limits).toEqual(defaultCodecLimits);
    expectFailure(partial.decodeClient('['.repeat(200_000)), ErrorCode.TooLarge);
    expectFailure(partial.decodeClient('['.repeat(20_000)), ErrorCode.TooDeep);
  });

  it.each([
    ['maxDepth NaN', { maxDepth: Number.NaN }],
    ['maxDepth 0', { maxDepth: 0 }],
    ['maxMessageBytes -1', { maxMessageBytes: -1 }],
    ['maxMessageBytes 1.5', { maxMessageBytes: 1.5 }],
    ['maxMessageBytes Infinity', { maxMessageBytes: Number.POSITIVE_INFINITY }],
  ])('refuses the configuration %s at construction', (_, limits) => {
    expect(() => new JsonCodec(limits)).toThrow(RangeError);
  });
});

describe('JsonCodec: encode/decode round trip (property)', () => {
  it('encodes to one JSON text', () => {
    expect(codec.encodeClient(clientSamples.leave)).toBe('{"type":"leave"}');
    expect(typeof codec.encodeServer(serverSamples.pong)).toBe('string');
  });

  const clientTypes = Object.keys(clientMessageByType) as ClientMessage['type'][];
  it.each(clientTypes)('decodeClient(encodeClient(m)) equals m for every generated %s', (type) => {
    fc.assert(
      fc.property(clientMessageByType[type] as fc.Arbitrary<ClientMessage>, (message) => {
        const wire = codec.encodeClient(message);
        expect(codec.decodeClient(wire)).toEqual({ ok: true, value: message });
        expect(codec.decodeClient(utf8.encode(wire))).toEqual({ ok: true, value: message });
      }),
      capped(fcParams()),
    );
  });

  const serverTypes = Object.keys(serverMessageByType) as ServerMessage['type'][];
  it.each(serverTypes)('decodeServer(encodeServer(m)) equals m for every generated %s', (type) => {
    fc.assert(
      fc.property(serverMessageByType[type] as fc.Arbitrary<ServerMessage>, (message) => {
        const wire = codec.encodeServer(message);
        expect(codec.decodeServer(wire)).toEqual({ ok: true, value: message });
        expect(codec.decodeServer(utf8.encode(wire))).toEqual({ ok: true, value: message });
      }),
      capped(fcParams()),
    );
  });
});
