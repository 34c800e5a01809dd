/**
 * Hostile-input corpus for the three JSON decoders: every case must come back as `{ ok: false, error }` with a
 * P3Error of the expected code. Never a throw, never a hang (the test timeout bounds every case).
 */
import fc from 'fast-check';
import { capped } from './property-cap.js';
import { describe, expect, it } from 'vitest';
import { decodeEcsSyncClientMessage, ErrorCode, JsonCodec, type Result } from '@p3/protocol';
import { fcParams } from './json-arbitraries.js';
import {
  clientSamples,
  ecsSamples,
  entityA,
  expectFailure,
  isWellFormedResult,
  manyKeys,
  serverSamples,
  withValue,
  type Path,
} from './json-fixtures.js';

const codec = new JsonCodec();
const decoders = {
  client: (data: string | Uint8Array): Result<unknown> => codec.decodeClient(data),
  server: (data: string | Uint8Array): Result<unknown> => codec.decodeServer(data),
  ecs: (data: string | Uint8Array): Result<unknown> => decodeEcsSyncClientMessage(data),
};
type DecoderName = keyof typeof decoders;
const decoderNames = Object.keys(decoders) as DecoderName[];

interface CorpusCase {
  readonly name: string;
  readonly input: string | Uint8Array;
  /** One code for every decoder, or one per decoder when their limits or message sets differ. */
  readonly code: ErrorCode | Readonly<Record<DecoderName, ErrorCode>>;
}

const utf8 = new TextEncoder();
const bytes = (...parts: Array<string | number[]>): Uint8Array =>
  new Uint8Array(parts.flatMap((p) => (typeof p === 'string' ? [...utf8.encode(p)] : p)));
const per = (client: ErrorCode, server: ErrorCode, ecs: ErrorCode): Record<DecoderName, ErrorCode> => ({
  client,
  server,
  ecs,
});
const nested = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);

const { Malformed, InvalidMessage, NotFinite, PrototypeKey, TooDeep, TooLarge, UnknownMessageType } =
  ErrorCode;

// ---------------------------------------------------------------------------------------------------------------
// Cases every decoder must refuse

const sharedCases: CorpusCase[] = [
  // empty and blank input
  { name: 'empty text', input: '', code: Malformed },
  { name: 'empty bytes', input: new Uint8Array(0), code: Malformed },
  { name: 'whitespace only', input: ' \n\t\r ', code: Malformed },
  { name: 'a text byte-order mark before the object', input: '\uFEFF{"type":"leave"}', code: Malformed },
  // non-object top-level values
  { name: 'top-level number', input: '42', code: InvalidMessage },
  { name: 'top-level negative float', input: '-0.5', code: InvalidMessage },
  { name: 'top-level string', input: '"patch"', code: InvalidMessage },
  { name: 'top-level empty array', input: '[]', code: InvalidMessage },
  { name: 'top-level array of a message', input: '[{"type":"leave"}]', code: InvalidMessage },
  { name: 'top-level null', input: 'null', code: InvalidMessage },
  { name: 'top-level true', input: 'true', code: InvalidMessage },
  { name: 'top-level number as bytes', input: bytes('7'), code: InvalidMessage },
  // the type discriminator
  { name: 'no type', input: '{}', code: UnknownMessageType },
  { name: 'type a number', input: '{"type":5}', code: UnknownMessageType },
  { name: 'type null', input: '{"type":null}', code: UnknownMessageType },
  { name: 'type an object', input: '{"type":{}}', code: UnknownMessageType },
  { name: 'type an array', input: '{"type":["patch"]}', code: UnknownMessageType },
  { name: 'type empty', input: '{"type":""}', code: UnknownMessageType },
  { name: 'type an Object.prototype member', input: '{"type":"hasOwnProperty"}', code: UnknownMessageType },
  { name: 'type a huge string', input: `{"type":"${'t'.repeat(10_000)}"}`, code: UnknownMessageType },
  {
    name: 'duplicate type keys (the last wins)',
    input: '{"type":"leave","type":"nope"}',
    code: UnknownMessageType,
  },
  // NaN and Infinity spellings: not JSON
  ...[
    'NaN',
    'Infinity',
    '-Infinity',
    'nan',
    'inf',
    '+1',
    '1e',
    '0x1F',
    '01',
    '.5',
    '1.',
    '1e+',
    '- 1',
    '0b1',
    '1_000',
  ].map((v): CorpusCase => ({
    name: `number spelled ${v}`,
    input: `{"type":"ping","id":1,"clientTime":${v}}`,
    code: Malformed,
  })),
  { name: 'top-level NaN', input: 'NaN', code: Malformed },
  // numbers beyond float64
  { name: 'number 1e999', input: '{"type":"ping","id":1,"clientTime":1e999}', code: NotFinite },
  { name: 'number -1e999', input: '{"type":"reconnect","lastTimestamp":-1e999}', code: NotFinite },
  { name: 'a 400-digit number', input: `{"type":"x","n":1${'0'.repeat(400)}}`, code: NotFinite },
  { name: 'an infinite number deep in an array', input: '{"type":"x","a":[[1,2,[3e400]]]}', code: NotFinite },
  // malformed syntax
  ...[
    ['an open brace', '{'],
    ['a close brace', '}'],
    ['a missing close brace', '{"type":"leave"'],
    ['an extra close brace', '{"type":"leave"}}'],
    ['single quotes', "{'type':'leave'}"],
    ['an unquoted key', '{type:"leave"}'],
    ['a trailing comma', '{"type":"leave",}'],
    ['a missing colon', '{"type" "leave"}'],
    ['trailing garbage', '{"type":"leave"}garbage'],
    ['two messages in one', '{"type":"leave"}{"type":"leave"}'],
    ['a raw control character in a string', '{"type":"le\u0001ave"}'],
    ['an invalid escape', '{"type":"\\q"}'],
    ['a short unicode escape', '{"type":"\\u12"}'],
    ['a comment', '/* hi */{"type":"leave"}'],
    ['undefined', 'undefined'],
    ['a lone quote', '"'],
    ['an unterminated string with escapes', '{"type":"\\\\\\"'],
  ].map(([what, input]): CorpusCase => ({ name: `malformed: ${what}`, input: input ?? '', code: Malformed })),
  // prototype keys, anywhere
  { name: '__proto__ at the top level', input: '{"__proto__":{"type":"leave"}}', code: PrototypeKey },
  {
    name: 'constructor beside a type',
    input: '{"type":"leave","constructor":{"prototype":{}}}',
    code: PrototypeKey,
  },
  {
    name: 'prototype in a nested object',
    input: '{"type":"x","a":{"b":{"prototype":1}}}',
    code: PrototypeKey,
  },
  {
    name: '__proto__ in an array item',
    input: '{"type":"x","a":[1,{"__proto__":null}]}',
    code: PrototypeKey,
  },
  { name: '__proto__ spelled with escapes', input: '{"\\u005f_proto__":{}}', code: PrototypeKey },
  {
    name: 'constructor spelled with escapes, as bytes',
    input: bytes('{"type":"x","\\u0063onstructor":1}'),
    code: PrototypeKey,
  },
  // deep nesting
  { name: '100000 "["', input: '['.repeat(100_000), code: per(TooLarge, TooDeep, TooDeep) },
  { name: '20000 "["', input: '['.repeat(20_000), code: TooDeep },
  { name: '20000 "[" as bytes', input: bytes('['.repeat(20_000)), code: TooDeep },
  { name: '10000 nested objects', input: '{"a":'.repeat(10_000), code: TooDeep },
  { name: 'alternating arrays and objects', input: '[{"a":'.repeat(5_000), code: TooDeep },
  { name: '40 levels inside a message', input: `{"type":"x","a":${nested(40)}}`, code: TooDeep },
  {
    name: '20 levels inside a message',
    input: `{"type":"leave","a":${nested(20)}}`,
    code: per(TooDeep, TooDeep, UnknownMessageType),
  },
  // invalid UTF-8 (bytes only)
  { name: 'a lone continuation byte', input: bytes('{"type":"', [0x80], '"}'), code: Malformed },
  { name: 'an overlong "/"', input: bytes('{"type":"', [0xc0, 0xaf], '"}'), code: Malformed },
  { name: 'an overlong quote', input: bytes('{"type":"leave', [0xc0, 0xa2], ',"x":1}'), code: Malformed },
  {
    name: 'a truncated 2-byte sequence at the end',
    input: bytes('{"type":"leave"}', [0xc3]),
    code: Malformed,
  },
  { name: 'a truncated 3-byte sequence', input: bytes('{"type":"', [0xe2, 0x82], '"}'), code: Malformed },
  {
    name: 'an encoded UTF-16 surrogate',
    input: bytes('{"type":"', [0xed, 0xa0, 0x80], '"}'),
    code: Malformed,
  },
  {
    name: 'a code point above U+10FFFF',
    input: bytes('{"type":"', [0xf4, 0x90, 0x80, 0x80], '"}'),
    code: Malformed,
  },
  { name: 'the bytes 0xFE 0xFF', input: bytes([0xfe, 0xff], '{}'), code: Malformed },
  {
    name: 'a 5-byte sequence',
    input: bytes('{"type":"', [0xf8, 0x88, 0x80, 0x80, 0x80], '"}'),
    code: Malformed,
  },
  { name: 'Latin-1 "é"', input: bytes('{"type":"caf', [0xe9], '"}'), code: Malformed },
  {
    name: 'UTF-16LE text',
    input: new Uint8Array([...'{"type":"leave"}'].flatMap((c) => [c.charCodeAt(0), 0])),
    code: Malformed,
  },
  // oversized input
  {
    name: '64 KiB + 1 bytes of 0xFF (size is checked before UTF-8)',
    input: new Uint8Array((64 << 10) + 1).fill(0xff),
    code: per(TooLarge, Malformed, Malformed),
  },
  {
    name: '1 MiB + 1 bytes of spaces',
    input: new Uint8Array((1 << 20) + 1).fill(0x20),
    code: per(TooLarge, Malformed, TooLarge),
  },
  {
    name: 'a 2 MiB string in an unknown message',
    input: `{"type":"x","s":"${'s'.repeat(2 << 20)}"}`,
    code: per(TooLarge, UnknownMessageType, TooLarge),
  },
  {
    name: 'a 2 MiB byte array',
    input: bytes(`{"type":"x","s":"${'s'.repeat(2 << 20)}"}`),
    code: per(TooLarge, UnknownMessageType, TooLarge),
  },
  {
    name: 'an object with 5000 keys',
    input: JSON.stringify({ type: 'x', ...manyKeys(5_000, () => 0) }),
    code: per(TooLarge, TooLarge, UnknownMessageType),
  },
  {
    name: 'an object with 10001 keys',
    input: JSON.stringify({ type: 'x', ...manyKeys(10_000, () => 0) }),
    code: TooLarge,
  },
];

// ---------------------------------------------------------------------------------------------------------------
// Cases for one decoder

const ops = (fields: string): string =>
  `{"type":"ops","stamp":1,${fields},"ops":[{"op":"delete","entityId":"${entityA}"}]}`;

const clientCases: CorpusCase[] = [
  ...[
    ['-1', InvalidMessage],
    ['0', InvalidMessage],
    ['1.5', InvalidMessage],
    ['-0.5', InvalidMessage],
    ['1e-7', InvalidMessage],
    ['2147483648', InvalidMessage],
    ['1e308', InvalidMessage],
    ['9007199254740993', InvalidMessage],
    ['1e400', NotFinite],
    ['"1"', InvalidMessage],
    ['null', InvalidMessage],
    ['true', InvalidMessage],
  ].map(([seq, code]): CorpusCase => ({
    name: `ops seq ${seq}`,
    input: ops(`"seq":${seq}`),
    code: code as ErrorCode,
  })),
  { name: 'ops stamp -1', input: ops('"seq":1,"stamp":-1'), code: InvalidMessage },
  { name: 'ops stamp 2^32', input: ops('"seq":1,"stamp":4294967296'), code: InvalidMessage },
  { name: 'frameAck frame 1e20', input: '{"type":"frameAck","frame":1e20}', code: InvalidMessage },
  {
    name: 'frameAck frame 2^53',
    input: '{"type":"frameAck","frame":9007199254740992}',
    code: InvalidMessage,
  },
  {
    name: 'join resumeFrame 1e308',
    input: withValue(clientSamples.join, ['resumeFrame'], 1e308),
    code: InvalidMessage,
  },
  { name: 'ping id 2^32', input: '{"type":"ping","id":4294967296,"clientTime":0}', code: InvalidMessage },
  {
    name: 'ping clientTime -1e308',
    input: '{"type":"ping","id":1,"clientTime":-1e308}',
    code: InvalidMessage,
  },
  {
    name: 'a clientId of 10000 characters',
    input: withValue(clientSamples.join, ['clientId'], 'c'.repeat(10_000)),
    code: InvalidMessage,
  },
  {
    name: 'a token of 8193 characters',
    input: withValue(clientSamples.join, ['token'], 't'.repeat(8193)),
    code: InvalidMessage,
  },
  {
    name: 'a token of 70000 characters (over the message limit)',
    input: withValue(clientSamples.join, ['token'], 't'.repeat(70_000)),
    code: TooLarge,
  },
  {
    name: 'an event name of 10000 characters',
    input: withValue(clientSamples.ops, ['ops', 4, 'name'], 'n'.repeat(10_000)),
    code: InvalidMessage,
  },
  {
    name: '257 ops',
    input: withValue(
      clientSamples.ops,
      ['ops'],
      Array.from({ length: 257 }, () => ({ op: 'delete', entityId: entityA })),
    ),
    code: InvalidMessage,
  },
  {
    name: '5000 ops (over the byte limit)',
    input: withValue(
      clientSamples.ops,
      ['ops'],
      Array.from({ length: 5000 }, () => ({ op: 'leave' })),
    ),
    code: TooLarge,
  },
  {
    name: 'a valid ops message over 64 KiB, as bytes',
    input: bytes(withValue(clientSamples.ops, ['ops', 4, 'data'], 'd'.repeat(70_000))),
    code: TooLarge,
  },
  {
    name: 'a server message sent to the server',
    input: JSON.stringify(serverSamples.welcome),
    code: UnknownMessageType,
  },
  {
    name: 'an ecs-sync message sent to the P3 endpoint',
    input: JSON.stringify(ecsSamples.patch),
    code: UnknownMessageType,
  },
];

const serverCases: CorpusCase[] = [
  { name: 'ack seq -1', input: withValue(serverSamples.ack, ['seq'], -1), code: InvalidMessage },
  { name: 'ack seq 1.5', input: withValue(serverSamples.ack, ['seq'], 1.5), code: InvalidMessage },
  {
    name: 'ack missing range with 1e999',
    input: '{"type":"ack","stamp":1,"seq":1,"missing":[[1,1e999]]}',
    code: NotFinite,
  },
  {
    name: 'a 1 MiB error reason',
    input: withValue(serverSamples.error, ['reason'], 'r'.repeat(1 << 20)),
    code: InvalidMessage,
  },
  {
    name: 'a welcome schema with 300 types',
    input: withValue(
      serverSamples.welcome,
      ['schema'],
      manyKeys(300, () => ({ fields: {} }), 'T'),
    ),
    code: ErrorCode.InvalidSchema,
  },
  {
    name: 'frame id 1e300',
    input: withValue(serverSamples.frame, ['frame', 'id'], 1e300),
    code: InvalidMessage,
  },
  { name: 'pong frame -0.5', input: withValue(serverSamples.pong, ['frame'], -0.5), code: InvalidMessage },
  // [IDLE-3] a frame follows a lower frame; an idle stretch covers at least one frame
  {
    name: 'frame prev = frame.id',
    input: withValue(serverSamples.frame, ['prev'], 101),
    code: InvalidMessage,
  },
  {
    name: 'frame prev above frame.id',
    input: withValue(serverSamples.frame, ['prev'], 500),
    code: InvalidMessage,
  },
  { name: 'frame prev -1', input: withValue(serverSamples.frame, ['prev'], -1), code: InvalidMessage },
  { name: 'frame prev 1e999', input: '{"type":"frame","prev":1e999,"frame":{}}', code: NotFinite },
  {
    name: 'idle through = prev',
    input: withValue(serverSamples.idle, ['through'], 101),
    code: InvalidMessage,
  },
  {
    name: 'idle through below prev',
    input: withValue(serverSamples.idle, ['through'], 3),
    code: InvalidMessage,
  },
  {
    name: 'idle without prev',
    input: withValue(serverSamples.idle, ['prev'], undefined),
    code: InvalidMessage,
  },
  {
    name: 'idle through 2^53',
    input: withValue(serverSamples.idle, ['through'], 2 ** 53),
    code: InvalidMessage,
  },
  {
    name: '100000 bad removed ids',
    input: withValue(
      serverSamples.catchup,
      ['removed'],
      Array.from({ length: 100_000 }, () => 1),
    ),
    code: InvalidMessage,
  },
  {
    name: 'a client message sent to the client',
    input: JSON.stringify(clientSamples.join),
    code: UnknownMessageType,
  },
];

const ecsCases: CorpusCase[] = [
  ...[
    ['-1', InvalidMessage],
    ['-0.5', InvalidMessage],
    ['"0"', InvalidMessage],
    ['null', InvalidMessage],
    ['1e999', NotFinite],
    ['[]', InvalidMessage],
  ].map(([ts, code]): CorpusCase => ({
    name: `reconnect lastTimestamp ${ts}`,
    input: `{"type":"reconnect","lastTimestamp":${ts}}`,
    code: code as ErrorCode,
  })),
  {
    name: 'reconnect protocolVersion 1.5',
    input: '{"type":"reconnect","lastTimestamp":0,"protocolVersion":1.5}',
    code: InvalidMessage,
  },
  {
    name: '1025 patches',
    input: withValue(
      ecsSamples.patch,
      ['documentPatches'],
      Array.from({ length: 1025 }, () => ({})),
    ),
    code: InvalidMessage,
  },
  {
    name: 'a messageId of 1000 characters',
    input: withValue(ecsSamples.patch, ['messageId'], 'm'.repeat(1000)),
    code: InvalidMessage,
  },
  {
    name: 'a messageId of 1 MiB',
    input: withValue(ecsSamples.patch, ['messageId'], 'm'.repeat(1 << 20)),
    code: TooLarge,
  },
  {
    name: 'a key of 10000 characters',
    input: `{"type":"patch","messageId":"m","documentPatches":[{"${'k'.repeat(10_000)}":{}}]}`,
    code: InvalidMessage,
  },
  {
    name: 'documentPatches [[]]',
    input: '{"type":"patch","messageId":"m","documentPatches":[[]]}',
    code: InvalidMessage,
  },
  {
    name: 'documentPatches [null]',
    input: '{"type":"patch","messageId":"m","documentPatches":[null]}',
    code: InvalidMessage,
  },
  {
    name: 'documentPatches [{"k":1}]',
    input: '{"type":"patch","messageId":"m","documentPatches":[{"k":1}]}',
    code: InvalidMessage,
  },
  {
    name: 'documentPatches "x"',
    input: '{"type":"patch","messageId":"m","documentPatches":"x"}',
    code: InvalidMessage,
  },
  {
    name: '_exists "false"',
    input: '{"type":"patch","messageId":"m","documentPatches":[{"k":{"_exists":"false"}}]}',
    code: InvalidMessage,
  },
  {
    name: 'a P3 message sent to ecs-sync',
    input: JSON.stringify(clientSamples.join),
    code: UnknownMessageType,
  },
];

const caseTitle = (c: CorpusCase): string =>
  `${c.name} -> ${typeof c.code === 'string' ? c.code : decoderNames.map((d) => `${d} ${(c.code as Record<DecoderName, ErrorCode>)[d]}`).join(', ')}`;

function expectRefused(decoder: DecoderName, input: string | Uint8Array, code: ErrorCode): void {
  let result: Result<unknown> | undefined;
  expect(() => (result = decoders[decoder](input))).not.toThrow();
  expect(isWellFormedResult(result)).toBe(true);
  if (result !== undefined) expectFailure(result, code);
}

describe('corpus: every decoder', () => {
  describe.each(decoderNames)('%s', (decoder) => {
    it.each(sharedCases.map((c) => [caseTitle(c), c] as const))('%s', (_, c) => {
      expectRefused(decoder, c.input, typeof c.code === 'string' ? c.code : c.code[decoder]);
    });
  });
});

describe.each([
  ['client', clientCases],
  ['server', serverCases],
  ['ecs', ecsCases],
] as const)('corpus: %s decoder only', (decoder, cases) => {
  it.each(cases.map((c) => [caseTitle(c), c] as const))('%s', (_, c) => {
    expectRefused(decoder, c.input, typeof c.code === 'string' ? c.code : c.code[decoder]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Truncation at every offset

const truncationSamples: ReadonlyArray<[DecoderName, string, object]> = [
  [
    'client',
    'join with multi-byte text',
    { ...clientSamples.join, clientId: 'jöé\u{1F600}€', token: 'tök\u{1F680}' },
  ],
  ['client', 'ops', clientSamples.ops],
  ['server', 'frame', serverSamples.frame],
  ['server', 'welcome', serverSamples.welcome],
  ['ecs', 'patch with multi-byte text', { ...ecsSamples.patch, messageId: 'ünïcödé-\u{1F600}' }],
  ['ecs', 'reconnect', ecsSamples.reconnect],
];

describe('corpus: truncated messages', () => {
  it.each(truncationSamples)('%s %s truncated at every character is MALFORMED', (decoder, _, message) => {
    const text = JSON.stringify(message);
    expect(decoders[decoder](text).ok).toBe(true);
    const wrong: string[] = [];
    for (let end = 0; end < text.length; end++) {
      const result = decoders[decoder](text.slice(0, end));
      if (result.ok || !isWellFormedResult(result) || result.error.code !== Malformed)
        wrong.push(`offset ${end}: ${result.ok ? 'ok' : result.error.code}`);
    }
    expect(wrong).toEqual([]);
  });

  it.each(truncationSamples)('%s %s truncated at every byte is MALFORMED', (decoder, _, message) => {
    const data = utf8.encode(JSON.stringify(message));
    expect(decoders[decoder](data).ok).toBe(true);
    const wrong: string[] = [];
    for (let end = 0; end < data.length; end++) {
      const result = decoders[decoder](data.subarray(0, end));
      if (result.ok || !isWellFormedResult(result) || result.error.code !== Malformed)
        wrong.push(`offset ${end}: ${result.ok ? 'ok' : result.error.code}`);
    }
    expect(wrong).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Wrong JSON types at every field of every valid sample

type JsonType = 'null' | 'boolean' | 'number' | 'string' | 'array' | 'object';
const jsonTypeOf = (v: unknown): JsonType =>
  v === null ? 'null' : Array.isArray(v) ? 'array' : (typeof v as 'boolean' | 'number' | 'string' | 'object');
const oneOfEachType: readonly unknown[] = [null, true, 7, 'wrong', [], {}];

function* allPaths(value: unknown, path: Path = []): Generator<Path> {
  if (path.length > 0) yield path;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) yield* allPaths(value[i], [...path, i]);
  } else if (value !== null && typeof value === 'object') {
    for (const [key, child] of Object.entries(value)) yield* allPaths(child, [...path, key]);
  }
}

interface FieldRules {
  /** Any JSON value is valid at this path (payloads, field values). */
  readonly freeForm: (path: Path) => boolean;
  /** Values of another JSON type than the sample's that are valid here too (e.g. `owner`: a string or null). */
  readonly alsoAccepts: (path: Path, value: unknown) => boolean;
  readonly code: (path: Path) => ErrorCode;
}

const startsWith = (path: Path, ...prefix: Array<string | number | null>): boolean =>
  prefix.length <= path.length && prefix.every((p, i) => p === null || path[i] === p);
const typeCode = (path: Path): ErrorCode | undefined =>
  path.length === 1 && path[0] === 'type' ? UnknownMessageType : undefined;

const rules: Record<DecoderName, FieldRules> = {
  client: {
    // create/update `data` values and the whole event payload are free JSON
    freeForm: (p) => startsWith(p, 'ops', null, 'data', null) || startsWith(p, 'ops', 4, 'data'),
    alsoAccepts: () => false,
    code: (p) => typeCode(p) ?? InvalidMessage,
  },
  server: {
    // entity field values, event payloads and the default of a json field are free JSON
    freeForm: (p) =>
      startsWith(p, 'entities', null, 'fields', null) ||
      startsWith(p, 'frame', 'entities', null, 'fields', null) ||
      startsWith(p, 'frame', 'events', null, 'data') ||
      startsWith(p, 'schema', 'Player', 'fields', 'meta', 'default'),
    alsoAccepts: (p, v) => p[p.length - 1] === 'owner' && (v === null || typeof v === 'string'),
    code: (p) => typeCode(p) ?? (p[0] === 'schema' ? ErrorCode.InvalidSchema : InvalidMessage),
  },
  ecs: {
    freeForm: (p) => p.length >= 4 && p[3] !== '_exists',
    alsoAccepts: (p, v) =>
      v === null && p.length === 1 && (p[0] === 'documentPatches' || p[0] === 'ephemeralPatches'),
    code: (p) => typeCode(p) ?? InvalidMessage,
  },
};

function wrongTypeCases(decoder: DecoderName, samples: Record<string, object>): CorpusCase[] {
  const out: CorpusCase[] = [];
  for (const [sampleName, sample] of Object.entries(samples)) {
    for (const path of allPaths(sample)) {
      const r = rules[decoder];
      if (r.freeForm(path)) continue;
      const original = path.reduce<unknown>((v, k) => (v as Record<string | number, unknown>)[k], sample);
      for (const value of oneOfEachType) {
        if (jsonTypeOf(value) === jsonTypeOf(original) || r.alsoAccepts(path, value)) continue;
        out.push({
          name: `${sampleName}.${path.join('.')} = ${JSON.stringify(value)}`,
          input: withValue(sample, path, value),
          code: r.code(path),
        });
      }
    }
  }
  return out;
}

describe.each([
  ['client', clientSamples],
  ['server', serverSamples],
  ['ecs', ecsSamples],
] as const)('corpus: %s decoder, a wrong JSON type at every field', (decoder, samples) => {
  const cases = wrongTypeCases(decoder, samples);
  it('covers every field of every sample', () => {
    expect(cases.length).toBeGreaterThan(Object.keys(samples).length * 4);
  });
  it.each(cases.map((c) => [caseTitle(c), c] as const))('%s', (_, c) => {
    expectRefused(decoder, c.input, c.code as ErrorCode);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Arbitrary input never throws

const allTypes = [
  'join',
  'ops',
  'cover',
  'frameAck',
  'ping',
  'resync',
  'leave',
  'welcome',
  'frame',
  'idle',
  'catchup',
  'ack',
  'reject',
  'pong',
  'error',
  'patch',
  'reconnect',
];
const allFieldNames = [
  ...new Set(
    [clientSamples, serverSamples, ecsSamples].flatMap((samples) =>
      Object.values(samples).flatMap((m) =>
        [...allPaths(m)].map((p) => p[p.length - 1]).filter((k): k is string => typeof k === 'string'),
      ),
    ),
  ),
];

/** Objects that look like messages: a known type and known field names with arbitrary JSON (prototype keys included). */
const messageLike = fc
  .tuple(
    fc.constantFrom(...allTypes),
    fc.dictionary(fc.constantFrom(...allFieldNames), fc.jsonValue({ maxDepth: 4 }), { maxKeys: 8 }),
  )
  .map(([type, fields]) => JSON.stringify({ ...fields, type }));

const validWires = [clientSamples, serverSamples, ecsSamples].flatMap((s) =>
  Object.values(s).map((m) => JSON.stringify(m)),
);

/** A valid message with a random edit: a slice removed, text inserted, or a character replaced. */
const mutatedText = fc
  .tuple(
    fc.constantFrom(...validWires),
    fc.nat(),
    fc.nat({ max: 20 }),
    fc.string({ unit: 'binary', maxLength: 8 }),
  )
  .map(([wire, at, length, insert]) => {
    const i = at % (wire.length + 1);
    return wire.slice(0, i) + insert + wire.slice(Math.min(wire.length, i + length));
  });

/** A valid message's bytes with some bytes overwritten. */
const mutatedBytes = fc
  .tuple(
    fc.constantFrom(...validWires),
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
  )
  .map(([wire, edits]) => {
    const data = utf8.encode(wire);
    for (const [at, byte] of edits) data[at % data.length] = byte;
    return data;
  });

describe('corpus: arbitrary input never throws and always returns a Result (property)', () => {
  const inputs: ReadonlyArray<[string, fc.Arbitrary<string | Uint8Array>]> = [
    ['any string', fc.string({ unit: 'binary', maxLength: 300 })],
    ['any JSON text', fc.json({ maxDepth: 6 })],
    ['any byte array', fc.uint8Array({ maxLength: 300 })],
    ['message-like objects', messageLike],
    ['message-like objects as bytes', messageLike.map((s) => utf8.encode(s))],
    ['mutated valid messages', mutatedText],
    ['valid messages with bytes overwritten', mutatedBytes],
  ];

  it.each(inputs)('%s', (_, input) => {
    fc.assert(
      fc.property(input, (data) => {
        for (const decoder of decoderNames) {
          const result = decoders[decoder](data);
          expect(isWellFormedResult(result), `${decoder}: ${JSON.stringify(result)}`).toBe(true);
        }
      }),
      capped(fcParams(500)),
    );
  });
});
