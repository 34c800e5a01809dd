import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { capped } from './property-cap.js';
import {
  BinaryClientTag as CT,
  BinaryCodec,
  BinaryServerTag as ST,
  ErrorCode,
  P3Error,
  PROTOCOL_VERSION,
  type ClientMessage,
  type Result,
  type ServerMessage,
  type WelcomeMessage,
  type WorldSchema,
} from '@p3/protocol';

const schema: WorldSchema = {
  player: {
    fields: {
      x: { dataType: 'number', min: -1000, max: 1000 },
      name: { dataType: 'string' },
      data: { dataType: 'json' },
    },
  },
  ball: { fields: { x: { dataType: 'number' } } },
};

const A = '0190d7a0-0000-7000-8000-00000000000a';
const B = '0190d7a0-0000-7000-8000-00000000000b';
const errorCodes = new Set<string>(Object.values(ErrorCode));

// ---------------------------------------------------------------------------------------------------------------
// Byte building

type Part = number | readonly number[] | Uint8Array;

function bytes(...parts: Part[]): Uint8Array {
  const out: number[] = [];
  for (const part of parts) {
    if (typeof part === 'number') out.push(part);
    else out.push(...part);
  }
  return Uint8Array.from(out);
}

function varint(value: number): number[] {
  const out: number[] = [];
  let rest = value;
  while (rest >= 0x80) {
    out.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  out.push(rest);
  return out;
}

function str(text: string): number[] {
  const utf8 = [...new TextEncoder().encode(text)];
  return [...varint(utf8.length), ...utf8];
}

function f64(value: number): number[] {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, value, true);
  return [...new Uint8Array(view.buffer)];
}

/** A float64 from its bit pattern (hex, big-endian as usually written), little-endian on the wire. */
function f64Bits(hex: string): number[] {
  return (hex.match(/../g) ?? []).map((h) => parseInt(h, 16)).reverse();
}

function uuid(id: string): number[] {
  return (id.replaceAll('-', '').match(/../g) ?? []).map((h) => parseInt(h, 16));
}

// ---------------------------------------------------------------------------------------------------------------
// Valid messages and codecs

function welcomeMessage(server: BinaryCodec): WelcomeMessage {
  return {
    type: 'welcome',
    protocolVersion: PROTOCOL_VERSION,
    connectionId: 'c1',
    room: 'lobby',
    schema: server.schema,
    tickRate: 20,
    bufferFrame: 2,
    frame: 10,
    serverTime: 500,
    lastSeq: 3,
    delta: false,
    entities: [
      {
        id: A,
        typeName: 'player',
        created: true,
        owner: 'c1',
        fields: { x: 1, name: 'a', data: { k: [1] } },
      },
    ],
    removed: [],
  };
}

/** A server codec with one entity (A, n = 1) and a client that decoded its welcome. */
function room(): { server: BinaryCodec; client: BinaryCodec; welcome: Uint8Array } {
  const server = new BinaryCodec(schema);
  server.encodeServer({
    type: 'frame',
    frame: {
      id: 9,
      type: 'verified',
      time: 450,
      events: [],
      entities: [{ id: A, typeName: 'player', created: true }],
      removed: [],
    },
  });
  const welcome = server.encodeServer(welcomeMessage(server));
  const client = new BinaryCodec();
  const r = client.decodeServer(welcome);
  if (!r.ok) throw r.error;
  return { server, client, welcome };
}

const validClientMessages: ClientMessage[] = [
  {
    type: 'join',
    protocolVersion: 1,
    room: 'lobby',
    clientId: 'cli',
    sessionStamp: 7,
    token: 'tok',
    resumeFrame: 99,
  },
  {
    type: 'ops',
    stamp: 7,
    seq: 1,
    through: 12,
    ops: [
      { op: 'input', entityId: A, input: { left: true, jump: false } },
      {
        op: 'create',
        frame: 13,
        entityId: B,
        typeName: 'player',
        data: { x: 5, name: 'b', data: [1, { a: null }] },
      },
      { op: 'update', entityId: B, data: { x: 6 } },
      {
        op: 'update',
        entityId: '0190d7a0-0000-7000-8000-0000000000ff',
        data: { anything: { deep: [true] } },
      },
      { op: 'delete', entityId: B },
      { op: 'event', name: 'shout', eventType: 'chat', data: { text: 'hé' } },
    ],
  },
  { type: 'cover', through: 12 },
  { type: 'frameAck', frame: 12 },
  { type: 'ping', id: 4, clientTime: 123.5 },
  { type: 'resync', frame: 3 },
  { type: 'leave' },
];

function validServerMessages(): ServerMessage[] {
  return [
    {
      type: 'frame',
      frame: {
        id: 11,
        type: 'generated',
        time: 550,
        events: [{ id: 'e1', name: 'hit', type: 'combat', originalFrame: 11, data: { dmg: 3 } }],
        entities: [
          { id: A, typeName: 'player', fields: { x: 2 } },
          { id: B, typeName: 'ball', created: true, owner: null, fields: { x: 1.25 }, input: { kick: true } },
        ],
        removed: [],
      },
    },
    {
      type: 'frame',
      frame: {
        id: 12,
        type: 'verified',
        time: 600,
        events: [],
        entities: [{ id: B, typeName: 'ball', fields: { x: 2 } }],
        removed: [A],
      },
    },
    {
      type: 'catchup',
      from: 10,
      to: 12,
      full: false,
      entities: [{ id: B, typeName: 'ball', fields: { x: 2 } }],
      removed: [A],
    },
    {
      type: 'frame',
      frame: {
        id: 15,
        type: 'verified',
        time: 750,
        events: [],
        entities: [{ id: B, typeName: 'ball', fields: { x: 3 } }],
        removed: [],
      },
      prev: 12,
    },
    { type: 'idle', prev: 15, through: 45 },
    { type: 'ack', stamp: 7, seq: 5, missing: [[7, 9]] },
    { type: 'reject', stamp: 7, seq: 6, code: ErrorCode.NotOwner, reason: 'not yours' },
    { type: 'pong', id: 4, clientTime: 123.5, serverTime: 600, frame: 12 },
    { type: 'error', code: ErrorCode.RateLimited, reason: 'slow down' },
  ];
}

function isTypedFailure(result: Result<unknown>): boolean {
  return result.ok || (result.error instanceof P3Error && errorCodes.has(result.error.code));
}

function expectCode(result: Result<unknown>, code: ErrorCode): void {
  if (result.ok) expect.fail(`expected ${code}, got a message: ${JSON.stringify(result.value)}`);
  expect(result.error).toBeInstanceOf(P3Error);
  expect(result.error.code).toBe(code);
}

const server = new BinaryCodec(schema);

/** An ops message of one op: `op` are the op's bytes (header first). */
const opsWith = (...op: Part[]): Uint8Array => bytes(CT.Ops, 0, 1, 1, 1, ...op);

/** A frame of one entity update: `update` are its bytes (directory header first). */
const frameWith = (...update: Part[]): Uint8Array => bytes(ST.Frame, 0, 12, f64(600), 0, 1, ...update, 0);

// ---------------------------------------------------------------------------------------------------------------

describe('binary codec: hostile client messages (decodeClient)', () => {
  it('refuses empty input and text', () => {
    expectCode(server.decodeClient(new Uint8Array(0)), ErrorCode.Truncated);
    expectCode(server.decodeClient('{"type":"leave"}'), ErrorCode.Malformed);
  });

  it('refuses every truncation of valid messages with TRUNCATED', () => {
    const client = new BinaryCodec(schema);
    for (const message of validClientMessages) {
      const full = client.encodeClient(message);
      expect(server.decodeClient(full).ok).toBe(true);
      for (let end = 0; end < full.byteLength; end++)
        expectCode(server.decodeClient(full.subarray(0, end)), ErrorCode.Truncated);
    }
  });

  it('refuses oversized input before reading it', () => {
    const small = new BinaryCodec(schema, { maxMessageBytes: 16 });
    expectCode(small.decodeClient(new Uint8Array(17)), ErrorCode.TooLarge);
    expectCode(server.decodeClient(new Uint8Array(64 * 1024 + 1).fill(CT.Leave)), ErrorCode.TooLarge);
  });

  it('refuses huge varints', () => {
    expectCode(
      server.decodeClient(bytes(CT.Cover, new Array<number>(10).fill(0x80), 0x01)),
      ErrorCode.VarintOverflow,
    );
    expectCode(
      server.decodeClient(bytes(CT.Cover, new Array<number>(8).fill(0xff), 0x7f)),
      ErrorCode.VarintOverflow,
    );
    expectCode(
      server.decodeClient(bytes(CT.Cover, new Array<number>(100_000).fill(0xff))),
      ErrorCode.TooLarge,
    );
    expectCode(
      server.decodeClient(bytes(CT.Cover, new Array<number>(1000).fill(0xff))),
      ErrorCode.VarintOverflow,
    );
    // 2^53 - 1 is a varint, then the validator's range applies.
    expectCode(
      server.decodeClient(bytes(CT.Cover, varint(Number.MAX_SAFE_INTEGER))),
      ErrorCode.InvalidMessage,
    );
  });

  it('refuses length prefixes and counts larger than the bytes left', () => {
    expectCode(server.decodeClient(bytes(CT.Join, 0, 1, varint(2 ** 50), 0x61)), ErrorCode.Truncated);
    expectCode(server.decodeClient(bytes(CT.Ops, 0, 1, 1, 200, 0)), ErrorCode.Truncated);
    expectCode(server.decodeClient(opsWith(0, uuid(A), 30, 1, 0x61)), ErrorCode.Truncated); // 30 input names
  });

  it('refuses counts above the message limits', () => {
    expectCode(
      server.decodeClient(bytes(CT.Ops, 0, 1, 1, varint(257), new Array<number>(600).fill(3))),
      ErrorCode.InvalidMessage,
    );
    expectCode(
      server.decodeClient(opsWith(0, uuid(A), 33, new Array<number>(80).fill(1))),
      ErrorCode.InvalidMessage,
    );
    expectCode(server.decodeClient(bytes(CT.Ops, 0, 1, 1, 0)), ErrorCode.InvalidMessage); // no ops
  });

  it('refuses unknown tags, server tags and unknown op kinds and flags', () => {
    for (const tag of [0x00, 0x08, 0x40, ST.Frame, 0xff])
      expectCode(server.decodeClient(bytes(tag)), ErrorCode.UnknownMessageType);
    expectCode(server.decodeClient(opsWith(7, uuid(A))), ErrorCode.InvalidMessage);
    expectCode(server.decodeClient(opsWith(0x40, uuid(A), 0, 0)), ErrorCode.InvalidMessage);
    expectCode(server.decodeClient(opsWith(0x13, uuid(A))), ErrorCode.InvalidMessage); // untyped delete
    expectCode(server.decodeClient(bytes(CT.Join, 0x04, 1, str('r'), str('c'), 0)), ErrorCode.Malformed);
  });

  it('refuses invalid UTF-8', () => {
    for (const bad of [[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0x61, 0x80]]) {
      expectCode(
        server.decodeClient(bytes(CT.Join, 0, 1, varint(bad.length), bad, str('c'), 0)),
        ErrorCode.Malformed,
      );
    }
  });

  it('refuses NaN and Infinity bit patterns in float64 fields', () => {
    for (const hex of [
      '7ff8000000000000',
      '7ff0000000000001',
      'fff8000000000000',
      '7ff0000000000000',
      'fff0000000000000',
    ]) {
      expectCode(server.decodeClient(bytes(CT.Ping, 1, f64Bits(hex))), ErrorCode.NotFinite);
      // ball.x: a run header 0 (float64 run), then the value
      expectCode(server.decodeClient(opsWith(2, uuid(A), 1, 1, 0, f64Bits(hex))), ErrorCode.NotFinite);
    }
    expectCode(server.decodeClient(bytes(CT.Ping, 1, f64(-1))), ErrorCode.InvalidMessage); // clientTime >= 0
  });

  it('refuses broken runs of unbounded numbers in ops: unknown run header, cut value', () => {
    // ball.x (type 1, field bit 0) of an update op: the run header, then the value.
    expectCode(server.decodeClient(opsWith(2, uuid(A), 1, 1, 3, 0)), ErrorCode.Malformed);
    expectCode(server.decodeClient(opsWith(2, uuid(A), 1, 1, 2)), ErrorCode.Truncated);
    expectCode(server.decodeClient(opsWith(2, uuid(A), 1, 1, 0, 0, 0)), ErrorCode.Truncated);
    const good = server.decodeClient(opsWith(2, uuid(A), 1, 1, 2, 4)); // millionths, zigzag 4 = q 2
    expect(good.ok && good.value.type === 'ops' ? good.value.ops[0] : undefined).toMatchObject({
      data: { x: 0.000002 },
    });
  });

  it('refuses an out-of-range type index and field bits past the type', () => {
    expectCode(server.decodeClient(opsWith(1, uuid(A), 99, 0)), ErrorCode.UnknownEntityType);
    expectCode(server.decodeClient(opsWith(2, uuid(A), varint(2 ** 40), 0)), ErrorCode.UnknownEntityType);
    expectCode(server.decodeClient(opsWith(2, uuid(A), 0, 0x08)), ErrorCode.UnknownField); // player has 3 fields
    expectCode(server.decodeClient(opsWith(2, uuid(A), 0, 0x80, 0x01)), ErrorCode.UnknownField);
    expectCode(server.decodeClient(opsWith(2, uuid(A), 1, 0x02, 0)), ErrorCode.UnknownField); // ball has 1 field
  });

  it('refuses prototype keys in input names, untyped field names and JSON payloads', () => {
    for (const key of ['__proto__', 'constructor', 'prototype']) {
      expectCode(server.decodeClient(opsWith(0, uuid(A), 1, str(key), 1)), ErrorCode.PrototypeKey);
      expectCode(server.decodeClient(opsWith(0x12, uuid(A), 1, str(key), str('1'))), ErrorCode.PrototypeKey);
      expectCode(
        server.decodeClient(opsWith(4, str('n'), str('t'), str(`{"a":{"${key}":{"polluted":true}}}`))),
        ErrorCode.PrototypeKey,
      );
      expectCode(
        server.decodeClient(opsWith(2, uuid(A), 0, 0x04, str(`{"${key}":1}`))),
        ErrorCode.PrototypeKey,
      ); // json field
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses invalid names, duplicates and bad booleans the JSON codec also refuses', () => {
    expectCode(server.decodeClient(opsWith(0, uuid(A), 1, str('9lives'), 1)), ErrorCode.InvalidMessage);
    expectCode(server.decodeClient(opsWith(0, uuid(A), 2, str('a'), str('a'), 3)), ErrorCode.Malformed);
    expectCode(server.decodeClient(opsWith(0, uuid(A), 1, str('a'), 2)), ErrorCode.Malformed); // bit past the count
    expectCode(server.decodeClient(opsWith(0x12, uuid(A), 1, str('9x'), str('1'))), ErrorCode.InvalidMessage);
    expectCode(
      server.decodeClient(opsWith(0x12, uuid(A), 2, str('a'), str('1'), str('a'), str('2'))),
      ErrorCode.Malformed,
    );
    expectCode(server.decodeClient(opsWith(0x11, uuid(A), str('9x'), 0)), ErrorCode.InvalidMessage); // type name
  });

  it('refuses deeply nested JSON payloads', () => {
    const deep = '['.repeat(200) + ']'.repeat(200);
    expectCode(server.decodeClient(opsWith(4, str('n'), str('t'), str(deep))), ErrorCode.TooDeep);
    expectCode(server.decodeClient(opsWith(2, uuid(A), 0, 0x04, str(deep))), ErrorCode.TooDeep);
    // The same nesting budget as the JSON codec: message{ops[op{data{ value
    const ok = '['.repeat(12) + ']'.repeat(12);
    const tooDeep = '['.repeat(13) + ']'.repeat(13);
    expect(server.decodeClient(opsWith(2, uuid(A), 0, 0x04, str(ok))).ok).toBe(true);
    expectCode(server.decodeClient(opsWith(2, uuid(A), 0, 0x04, str(tooDeep))), ErrorCode.TooDeep);
  });

  it('refuses trailing bytes', () => {
    expectCode(server.decodeClient(bytes(CT.Leave, 0)), ErrorCode.TrailingBytes);
    const client = new BinaryCodec(schema);
    const ops = client.encodeClient(validClientMessages[1] as ClientMessage);
    expectCode(server.decodeClient(bytes(ops, 0)), ErrorCode.TrailingBytes);
  });
});

describe('binary codec: hostile server messages (decodeServer)', () => {
  it('refuses empty input and text', () => {
    const { client } = room();
    expectCode(client.decodeServer(new Uint8Array(0)), ErrorCode.Truncated);
    expectCode(client.decodeServer('{}'), ErrorCode.Malformed);
  });

  it('refuses every truncation of valid messages with TRUNCATED and keeps its directory', () => {
    const { server: s, welcome } = room();
    const client = new BinaryCodec();
    for (let end = 0; end < welcome.byteLength; end++)
      expectCode(client.decodeServer(welcome.subarray(0, end)), ErrorCode.Truncated);
    expect(client.directory.size).toBe(0);
    expect(client.decodeServer(welcome).ok).toBe(true);
    for (const message of validServerMessages()) {
      const full = s.encodeServer(message);
      const before = client.directory.size;
      for (let end = 0; end < full.byteLength; end++)
        expectCode(client.decodeServer(full.subarray(0, end)), ErrorCode.Truncated);
      expect(client.directory.size).toBe(before);
      const r = client.decodeServer(full);
      if (!r.ok) throw r.error;
    }
  });

  it('refuses oversized input before reading it', () => {
    const small = new BinaryCodec(schema, { maxMessageBytes: 16, maxServerMessageBytes: 64 });
    expectCode(small.decodeServer(new Uint8Array(65)), ErrorCode.TooLarge);
    expect(small.decodeServer(bytes(ST.Error, str(ErrorCode.Internal), str('x'.repeat(40)))).ok).toBe(true);
  });

  it('refuses huge varints, huge length prefixes and counts', () => {
    const { client } = room();
    expectCode(
      client.decodeServer(bytes(ST.Ack, new Array<number>(12).fill(0x80), 1)),
      ErrorCode.VarintOverflow,
    );
    expectCode(client.decodeServer(bytes(ST.Error, varint(2 ** 50), 0x41)), ErrorCode.Truncated);
    expectCode(
      client.decodeServer(bytes(ST.Frame, 0, 12, f64(600), varint(1_000_000), 0)),
      ErrorCode.Truncated,
    );
    expectCode(
      client.decodeServer(bytes(ST.Frame, 0, 12, f64(600), 0, varint(999_999), 0, 0)),
      ErrorCode.Truncated,
    );
    expectCode(
      client.decodeServer(bytes(ST.Frame, 0, 12, f64(600), 0, varint(2_000_000), 0, 0)),
      ErrorCode.InvalidMessage,
    );
    expectCode(
      client.decodeServer(bytes(ST.Ack, 1, 1, 66, new Array<number>(200).fill(1))),
      ErrorCode.InvalidMessage,
    );
    expectCode(client.decodeServer(bytes(ST.Ack, 1, 1, 40, 1, 1)), ErrorCode.Truncated);
  });

  it('refuses unknown tags and client tags', () => {
    const { client } = room();
    for (const tag of [0x00, CT.Leave, 0x49, 0xff])
      expectCode(client.decodeServer(bytes(tag)), ErrorCode.UnknownMessageType);
  });

  it('[IDLE-3] refuses frames whose prev is not below their id, and empty or out-of-range idle stretches', () => {
    const { client } = room();
    // frame 12 (prev flag): 11 skipped frames would put prev at -1
    expectCode(client.decodeServer(bytes(ST.Frame, 4, 12, 12, f64(600), 0, 0, 0)), ErrorCode.InvalidMessage);
    expectCode(client.decodeServer(bytes(ST.Frame, 4, 0, 0, f64(0), 0, 0, 0)), ErrorCode.InvalidMessage);
    expectCode(
      client.decodeServer(bytes(ST.Frame, 4, 12, varint(2 ** 53), f64(600), 0, 0, 0)),
      ErrorCode.VarintOverflow,
    );
    expectCode(client.decodeServer(bytes(ST.Frame, 8, 12, f64(600), 0, 0, 0)), ErrorCode.Malformed); // unknown flag
    expectCode(client.decodeServer(bytes(ST.Frame, 4 | 3, 12, 1, f64(600), 0, 0, 0)), ErrorCode.Malformed); // type 3
    expect(client.decodeServer(bytes(ST.Frame, 4, 12, 11, f64(600), 0, 0, 0))).toMatchObject({
      ok: true,
      value: { type: 'frame', prev: 0, frame: { id: 12 } },
    });
    expectCode(client.decodeServer(bytes(ST.Idle, 10, 0)), ErrorCode.InvalidMessage); // no frame in the stretch
    expectCode(client.decodeServer(bytes(ST.Idle, varint(2 ** 40), 1)), ErrorCode.InvalidMessage); // prev = maxFrame
    expectCode(client.decodeServer(bytes(ST.Idle, varint(2 ** 40 - 1), 2)), ErrorCode.InvalidMessage); // past maxFrame
    expectCode(client.decodeServer(bytes(ST.Idle, 10)), ErrorCode.Truncated);
    expectCode(client.decodeServer(bytes(ST.Idle, 10, 30, 0)), ErrorCode.TrailingBytes);
    expect(client.decodeServer(bytes(ST.Idle, 10, 30))).toEqual({
      ok: true,
      value: { type: 'idle', prev: 10, through: 40 },
    });
    expect(() => server.encodeServer({ type: 'idle', prev: 5, through: 5 })).toThrow(P3Error);
  });

  it('refuses invalid UTF-8', () => {
    const { client } = room();
    expectCode(
      client.decodeServer(bytes(ST.Error, str(ErrorCode.Internal), 2, 0xc3, 0x28)),
      ErrorCode.Malformed,
    );
    expectCode(client.decodeServer(frameWith(varint(1 * 4 + 1), 0x0c, 1, 0xff)), ErrorCode.Malformed); // owner
  });

  it('refuses broken runs of unbounded numbers: unknown header, cut value, delta past the safe range, NaN escape', () => {
    const { client } = room();
    // Two values of ball B's x (type 1, an unbounded number) in one frame: a DEFINE, then a REF of the same entry.
    const twoBalls = (first: Part[], second: Part[]): Uint8Array =>
      bytes(
        ST.Frame,
        0,
        12,
        f64(600),
        0,
        2,
        varint(5 * 4 + 2),
        uuid(B),
        1,
        0x10,
        0x01,
        ...first,
        varint(5 * 4),
        0x01,
        ...second,
        0,
      );
    // q = 2^53 - 1 in sign-magnitude zigzag (6 bits, then a varint of the rest).
    const maxSafe = [0x80 | (((2 ** 53 - 1) % 64) * 2), ...varint(Math.floor((2 ** 53 - 1) / 64))];
    expectCode(
      client.decodeServer(frameWith(varint(5 * 4 + 2), uuid(B), 1, 0x10, 0x01, 3, 0)),
      ErrorCode.Malformed,
    );
    expectCode(
      client.decodeServer(frameWith(varint(5 * 4 + 2), uuid(B), 1, 0x10, 0x01, 2)),
      ErrorCode.Truncated,
    );
    expectCode(client.decodeServer(twoBalls([1, ...maxSafe], [varint(1 + 2 * 5)])), ErrorCode.VarintOverflow);
    // A run's first q that is the zigzag escape (-2^53: sign bit set on the largest magnitude).
    const escape = [maxSafe[0]! | 1, ...maxSafe.slice(1)];
    expectCode(
      client.decodeServer(frameWith(varint(5 * 4 + 2), uuid(B), 1, 0x10, 0x01, 1, ...escape)),
      ErrorCode.VarintOverflow,
    );
    expectCode(
      client.decodeServer(twoBalls([2, 2], [0, ...f64Bits('7ff8000000000000')])),
      ErrorCode.NotFinite,
    );
    expectCode(client.decodeServer(twoBalls([2, 2], [0])), ErrorCode.Truncated);
    // The same bytes with a good second value decode: 1e-6, then +1e-6 and the escape to a float64.
    const good = client.decodeServer(twoBalls([2, 2], [varint(1 + 2)]));
    expect(
      good.ok && good.value.type === 'frame' ? good.value.frame.entities.map((e) => e.fields?.x) : [],
    ).toEqual([0.000001, 0.000002]);
  });

  it('refuses NaN and Infinity bit patterns in float64 fields', () => {
    const { client } = room();
    for (const hex of ['7ff8000000000000', '7ff0000000000000', 'fff0000000000000', '7fffffffffffffff']) {
      expectCode(client.decodeServer(bytes(ST.Pong, 1, f64Bits(hex), f64(1), 1)), ErrorCode.NotFinite);
      expectCode(client.decodeServer(bytes(ST.Frame, 0, 12, f64Bits(hex), 0, 0, 0)), ErrorCode.NotFinite);
      // a DEFINE of a ball (type 1) whose float64 x is not finite
      expectCode(
        client.decodeServer(frameWith(varint(5 * 4 + 2), uuid(B), 1, 0x10, 0x01, 0, f64Bits(hex))),
        ErrorCode.NotFinite,
      );
    }
  });

  it('refuses out-of-range type indexes, field bits past the type and unknown directory numbers', () => {
    const { client } = room();
    expectCode(client.decodeServer(frameWith(varint(5 * 4 + 2), uuid(B), 2, 0)), ErrorCode.UnknownEntityType);
    expectCode(client.decodeServer(frameWith(varint(1 * 4), 0x08)), ErrorCode.UnknownField);
    expectCode(client.decodeServer(frameWith(varint(1 * 4), 0x81, 0x00)), ErrorCode.UnknownField);
    expectCode(client.decodeServer(frameWith(varint(77 * 4), 0x00)), ErrorCode.UnknownEntityRef);
    expectCode(
      client.decodeServer(bytes(ST.Frame, 0, 12, f64(600), 0, 0, 1, varint(77 * 4))),
      ErrorCode.UnknownEntityRef,
    );
    expectCode(client.decodeServer(frameWith(varint(0 * 4 + 2), uuid(B), 1, 0)), ErrorCode.Malformed); // n = 0
    expectCode(client.decodeServer(frameWith(3, uuid(B))), ErrorCode.Malformed); // RAW is for removal lists
    expectCode(
      client.decodeServer(bytes(ST.Frame, 0, 12, f64(600), 0, 0, 1, 7, uuid(B))),
      ErrorCode.Malformed,
    ); // RAW with n
    expectCode(client.decodeServer(frameWith(varint(1 * 4 + 1), 0x03)), ErrorCode.Malformed); // created and not created
    expectCode(client.decodeServer(frameWith(varint(1 * 4 + 1), 0x40)), ErrorCode.Malformed); // unknown flag
    expectCode(client.decodeServer(bytes(ST.Frame, 3, 12, f64(600), 0, 0, 0)), ErrorCode.Malformed); // frame type 3
    expectCode(client.decodeServer(bytes(ST.Reject, 1, 1, str('NOPE'), str(''))), ErrorCode.InvalidMessage);
  });

  it('refuses prototype keys in input names and JSON payloads', () => {
    const { client } = room();
    for (const key of ['__proto__', 'constructor', 'prototype']) {
      expectCode(
        client.decodeServer(frameWith(varint(1 * 4 + 1), 0x20, 1, str(key), 1)),
        ErrorCode.PrototypeKey,
      );
      expectCode(
        client.decodeServer(frameWith(varint(1 * 4), 0x04, str(`[{"${key}":{"polluted":1}}]`))),
        ErrorCode.PrototypeKey,
      );
      const event = bytes(
        ST.Frame,
        0,
        12,
        f64(600),
        1,
        str('e'),
        str('n'),
        str('t'),
        12,
        str(`{"${key}":1}`),
        0,
        0,
      );
      expectCode(client.decodeServer(event), ErrorCode.PrototypeKey);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses deeply nested JSON payloads and invalid schemas in welcome', () => {
    const { client, server: s } = room();
    const deep = '{"a":'.repeat(50) + '1' + '}'.repeat(50);
    expectCode(client.decodeServer(frameWith(varint(1 * 4), 0x04, str(deep))), ErrorCode.TooDeep);
    // welcome: tag, protocolVersion, connectionId, room, then the schema's JSON text
    const welcome = s.encodeServer(welcomeMessage(s));
    const head = bytes(ST.Welcome, PROTOCOL_VERSION, str('c1'), str('lobby'));
    const tail = welcome.subarray(head.byteLength + str(JSON.stringify(s.schema)).length);
    expect(new BinaryCodec().decodeServer(bytes(head, str(JSON.stringify(s.schema)), tail)).ok).toBe(true);
    const withSchema = (text: string): Uint8Array => bytes(head, str(text), tail);
    expectCode(
      new BinaryCodec().decodeServer(withSchema('{"player":{"fields":{"__proto__":{"dataType":"number"}}}}')),
      ErrorCode.PrototypeKey,
    );
    expectCode(
      new BinaryCodec().decodeServer(withSchema('{"player":{"fields":{"x":{"dataType":"vector"}}}}')),
      ErrorCode.InvalidSchema,
    );
    expectCode(new BinaryCodec().decodeServer(withSchema('{"player":')), ErrorCode.Malformed);
    expectCode(
      new BinaryCodec().decodeServer(withSchema('[' + '{"a":'.repeat(40) + '1' + '}'.repeat(40) + ']')),
      ErrorCode.TooDeep,
    );
  });

  it('refuses trailing bytes', () => {
    const { client, server: s } = room();
    expectCode(
      client.decodeServer(bytes(ST.Error, str(ErrorCode.Internal), str(''), 0)),
      ErrorCode.TrailingBytes,
    );
    const frame = s.encodeServer(validServerMessages()[0] as ServerMessage);
    expectCode(client.decodeServer(bytes(frame, 0)), ErrorCode.TrailingBytes);
    expect(client.directory.numberOf(B)).toBeUndefined();
  });
});

describe('binary codec: arbitrary and mutated input (property)', () => {
  /** Decodes and checks: a Result (never a throw) whose error is a P3Error with a known code, in bounded time. */
  function decodeSafely(decode: () => Result<unknown>): void {
    const started = performance.now();
    let result: Result<unknown> | undefined;
    expect(() => {
      result = decode();
    }).not.toThrow();
    expect(performance.now() - started).toBeLessThan(500);
    expect(result !== undefined && isTypedFailure(result)).toBe(true);
    // guard() wraps unexpected exceptions (a decoder bug) as INVALID_MESSAGE with a cause: there must be none.
    if (result !== undefined && !result.ok) expect(result.error.cause).toBeUndefined();
  }

  const encodedClient = (() => {
    const client = new BinaryCodec(schema);
    return validClientMessages.map((m) => client.encodeClient(m));
  })();
  const encodedServer = (() => {
    const { server: s, welcome } = room();
    return [welcome, ...validServerMessages().map((m) => s.encodeServer(m))];
  })();

  type Mutation =
    | { readonly kind: 'set'; readonly at: number; readonly value: number }
    | { readonly kind: 'insert'; readonly at: number; readonly values: Uint8Array }
    | { readonly kind: 'delete'; readonly at: number; readonly count: number }
    | { readonly kind: 'cut'; readonly at: number };

  const mutation: fc.Arbitrary<Mutation> = fc.oneof(
    fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
    fc.record({
      kind: fc.constant('insert' as const),
      at: fc.nat(),
      values: fc.uint8Array({ minLength: 1, maxLength: 12 }),
    }),
    fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 8 }) }),
    fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
  );

  function mutate(source: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
    let out = [...source];
    for (const m of mutations) {
      const at = m.at % (out.length + 1);
      if (m.kind === 'set') {
        if (at < out.length) out[at] = m.value;
      } else if (m.kind === 'insert') {
        out.splice(at, 0, ...m.values);
      } else if (m.kind === 'delete') {
        out.splice(at, m.count);
      } else {
        out = out.slice(0, at);
      }
    }
    return Uint8Array.from(out);
  }

  it('decodeClient returns a typed Result for arbitrary bytes', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }),
          fc.uint8Array({ maxLength: 40 }).map((b) => bytes(1 + ((b[0] ?? 0) % 7), b)),
        ),
        (input) => {
          decodeSafely(() => server.decodeClient(input));
        },
      ),
      capped({ numRuns: 2000 }),
    );
  });

  it('decodeServer returns a typed Result for arbitrary bytes', () => {
    const { client } = room();
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }),
          fc.uint8Array({ maxLength: 60 }).map((b) => bytes(0x41 + ((b[0] ?? 0) % 7), b)),
        ),
        (input) => {
          decodeSafely(() => client.decodeServer(input));
        },
      ),
      capped({ numRuns: 2000 }),
    );
  });

  it('decoders return a typed Result for random mutations of valid encodings', () => {
    fc.assert(
      fc.property(
        fc.nat(encodedClient.length - 1),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        (i, mutations) => {
          const input = mutate(encodedClient[i] as Uint8Array, mutations);
          decodeSafely(() => server.decodeClient(input));
        },
      ),
      capped({ numRuns: 2000 }),
    );
    fc.assert(
      fc.property(
        fc.nat(encodedServer.length - 1),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        (i, mutations) => {
          const { client } = room();
          // The stream up to the mutated message, so REFs resolve as they would in a live connection.
          for (let k = 1; k < i; k++) client.decodeServer(encodedServer[k] as Uint8Array);
          const input = mutate(encodedServer[i] as Uint8Array, mutations);
          decodeSafely(() => client.decodeServer(input));
          decodeSafely(() => new BinaryCodec().decodeServer(input));
        },
      ),
      capped({ numRuns: 1000 }),
    );
  });
});
