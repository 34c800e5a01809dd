import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { capped } from '@p3/test-support/property';
import * as inbox from '../src/cluster/gateway-inbox-message.js';
import * as joinCommand from '../src/cluster/join-command.js';
import * as inputBatch from '../src/cluster/room-input-batch.js';
import * as outputBatch from '../src/cluster/room-output-batch.js';
import {
  OutputPartAssembler,
  splitOutputItems,
  type RoomOutputItem,
} from '../src/cluster/room-output-batch.js';
import * as wire from '../src/cluster/wire-json.js';
import {
  decodeSimulatorRequest,
  encodeDocumentCall,
  type DocumentCall,
} from '../src/cluster/document-call.js';

const { NotJson, UnknownVersion, Malformed } = wire.ClusterWireErrorCode;
const codes: readonly string[] = Object.values(wire.ClusterWireErrorCode);
type Decode = (bytes: Uint8Array) => wire.WireDecodeResult<unknown>;
const { decodeJoinCommand, encodeJoinCommand } = joinCommand;
const { decodeGatewayInboxMessage, encodeGatewayInboxMessage } = inbox;
const { decodeRoomInputBatch, encodeRoomInputBatch } = inputBatch;
const { decodeRoomOutputBatch, encodeRoomOutputBatch } = outputBatch;
const decoders = {
  join: decodeJoinCommand,
  inbox: decodeGatewayInboxMessage,
  input: decodeRoomInputBatch,
  output: decodeRoomOutputBatch,
} satisfies Record<string, Decode>;
type Name = keyof typeof decoders;

type Input = string | readonly number[];
type Corpus = ReadonlyArray<readonly [string, Input, wire.ClusterWireErrorCode]>;
const toBytes = (input: Input) => (typeof input === 'string' ? Buffer.from(input) : new Uint8Array(input));
/** JSON text of a valid message with fields replaced (`undefined` drops one). */
const edit = (base: object, patch: Record<string, unknown>) => JSON.stringify({ ...base, ...patch });
const long = (n: number) => 'x'.repeat(n);
/** 100 000 nested arrays: `JSON.parse` takes them, `JSON.stringify` overflows the stack on them. */
const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;

const v = wire.CLUSTER_WIRE_VERSION;
const where = { tenant: 't', room: 'r' };
const join = { v, id: 'j', gateway: 'g', attachment: 'a', ...where, clientId: 'c', sessionStamp: 3 };
const joined = { v, kind: 'joined', id: 'j1', epoch: 2 };
const refused = { v, kind: 'refused', id: 'j1', code: 'ROOM_FULL', reason: 'full', closeCode: 4000 };
const elsewhere = { v, kind: 'elsewhere', id: 'j1', owner: 's2', retryMs: 50 };
const detached = { v, kind: 'detached', ...where, attachments: ['g#1'] };
const input = { v, gateway: 'g', items: [{ a: 'g#1', m: '{}' }] };
const output = { v, items: [{ b: '{}' }] };

/** Bad inputs every decoder refuses with the same code (the envelope checks of wire-json). */
const common: Corpus = [
  ['empty bytes', [], NotJson],
  ['invalid UTF-8 (0xff 0xfe)', [0xff, 0xfe], NotJson],
  ['invalid UTF-8 inside a string', [0x7b, 0x22, 0xc3, 0x28, 0x22, 0x3a, 0x31, 0x7d], NotJson],
  ['not JSON', '{v:1}', NotJson],
  ['trailing garbage', '{"v":1}x', NotJson],
  ['over 8 MiB', JSON.stringify({ v, pad: long(8 << 20) }), NotJson],
  ['a JSON array', '[1]', Malformed],
  ['a JSON number', '1', Malformed],
  ['JSON null', 'null', Malformed],
  ['a JSON string', '"v"', Malformed],
  ['missing v', '{}', UnknownVersion],
  ['v: 2', '{"v":2}', UnknownVersion],
  ['v: 0', '{"v":0}', UnknownVersion],
  ['v: "1"', '{"v":"1"}', UnknownVersion],
  ['v: null', '{"v":null}', UnknownVersion],
  ['v only under __proto__ (a prototype key: refused)', '{"__proto__":{"v":1}}', NotJson],
];

/** Bad values of a field, by rule name. */
type Bad = Readonly<Record<string, unknown>>;
const missing = { missing: undefined };
const noCount = { negative: -1, fractional: 1.5, '2^53 (unsafe)': 2 ** 53 };
const badCount: Bad = { ...missing, ...noCount, 'a string': '3' };
const badText = (n: number): Bad => ({ ...missing, empty: '', 'a number': 1, [`over ${n}`]: long(n + 1) });
/** One Malformed entry per bad value of each field, put into an otherwise valid message. */
const rules = (label: string, base: object, fields: Record<string, Bad>): Corpus =>
  Object.entries(fields).flatMap(([field, bad]) =>
    Object.entries(bad).map(
      ([rule, value]) => [`${label} ${field} ${rule}`, edit(base, { [field]: value }), Malformed] as const,
    ),
  );
const item = (label: string, items: unknown[]) => [label, edit(input, { items }), Malformed] as const;
const outItem = (label: string, items: unknown[]) => [label, edit(output, { items }), Malformed] as const;

const corpora: Record<Name, Corpus> = {
  join: [
    ...rules('join', join, { id: badText(128), gateway: badText(256), attachment: badText(512) }),
    ...rules('join', join, { tenant: badText(1024), room: badText(1024), clientId: badText(256) }),
    ...rules('join', join, { sessionStamp: badCount }),
    ...rules('join', join, { resumeFrame: { ...noCount, null: null } }),
    ['join sessionStamp 1e400 (Infinity: not JSON data)', edit(join, {}).replace(':3', ':1e400'), NotJson],
    ['join user without team', edit(join, { user: 'u' }), Malformed],
    ['join user a number', edit(join, { user: 1, team: 'a' }), Malformed],
    ['join user null', edit(join, { user: null, team: 'a' }), Malformed],
    ['join team a number', edit(join, { user: 'u', team: 1 }), Malformed],
    ['join avoid a string', edit(join, { avoid: 'sim-1' }), Malformed],
    ['join avoid with an empty id', edit(join, { avoid: ['sim-1', ''] }), Malformed],
    ['join avoid with a number', edit(join, { avoid: [1] }), Malformed],
    ['join avoid with a 257-character id', edit(join, { avoid: ['x'.repeat(257)] }), Malformed],
    ['join avoid of 17 ids', edit(join, { avoid: Array.from({ length: 17 }, (_, i) => `s${i}`) }), Malformed],
    ['join avoid null', edit(join, { avoid: null }), Malformed],
  ],
  inbox: [
    ['missing kind', edit(joined, { kind: undefined }), Malformed],
    ['unknown kind', edit(joined, { kind: 'left' }), Malformed],
    ['kind a number', edit(joined, { kind: 1 }), Malformed],
    ...rules('joined', joined, { id: badText(128), epoch: badCount }),
    ...rules('refused', refused, { id: badText(128), code: badText(64), closeCode: badCount }),
    ...rules('refused', refused, { reason: { ...missing, 'a number': 1 } }),
    ...rules('elsewhere', elsewhere, { id: badText(128), retryMs: badCount }),
    ...rules('elsewhere', elsewhere, {
      owner: { empty: '', 'a number': 1, null: null, 'over 256': long(257) },
    }),
    ...rules('detached', detached, { tenant: badText(1024), room: badText(1024) }),
    ...rules('detached', detached, {
      attachments: {
        ...missing,
        'an object': { 0: 'g#1' },
        'holding a non-string attachment': ['g#1', 7],
        'holding an empty one': [''],
        'holding one over 512': [long(513)],
        'over 10 000 long': Array(10_001).fill('a'),
      },
    }),
  ],
  input: [
    ...rules('input', input, { gateway: badText(256), items: { ...missing, 'an object': {} } }),
    item('an item a string', ['x']),
    item('an item null', [null]),
    item('an item an array', [['g#1', '{}']]),
    item('an item without a', [{ m: '{}' }]),
    item('an item a empty', [{ a: '', m: '{}' }]),
    item('an item a over 512', [{ a: long(513), m: '{}' }]),
    item('an item with neither m nor leave', [{ a: 'g#1' }]),
    item('an item leave: false', [{ a: 'g#1', leave: false }]),
    item('an item leave: "true"', [{ a: 'g#1', leave: 'true' }]),
    item('an item m an object', [{ a: 'g#1', m: {} }]),
    item('a bad item after a good one', [{ a: 'g#1', leave: true }, { a: 'g#1' }]),
    item('over 100 000 items', Array(100_001).fill({ a: 'a', leave: true })),
  ],
  output: [
    ...rules('output', output, { items: { ...missing, 'a string': '[]' } }),
    outItem('an item a number', [1]),
    outItem('an item null', [null]),
    outItem('an item matching no shape', [{ x: '{}' }]),
    outItem('broadcast b a number', [{ b: 1 }]),
    outItem('send without m', [{ to: 'c' }]),
    outItem('send to empty', [{ to: '', m: '{}' }]),
    outItem('send to over 256', [{ to: long(257), m: '{}' }]),
    outItem('close without reason', [{ close: 'c', code: 4000 }]),
    outItem('close code negative', [{ close: 'c', code: -1, reason: '' }]),
    outItem('close code fractional', [{ close: 'c', code: 1.5, reason: '' }]),
    outItem('close code 2^53 (unsafe)', [{ close: 'c', code: 2 ** 53, reason: '' }]),
    outItem('close over 256', [{ close: long(257), code: 1000, reason: '' }]),
    outItem('welcome m a number', [{ welcome: 'g#1', m: 1 }]),
    outItem('welcome over 512', [{ welcome: long(513), m: '{}' }]),
    ['b only under __proto__', '{"v":1,"items":[{"__proto__":{"b":"{}"}}]}', NotJson],
    outItem('over 100 000 items', Array(100_001).fill({ b: '' })),
  ],
};

const cases = (Object.keys(decoders) as Name[]).flatMap((name) =>
  [...common, ...corpora[name]].map(([rule, bytes, code]) => [name, rule, bytes, code] as const),
);

describe('cluster wire decoders corpus', () => {
  it.each(cases)('[CWIRE-1] %s refuses %s', (name, _rule, bytes, code) => {
    expect(decoders[name](toBytes(bytes))).toMatchObject({ ok: false, code, message: expect.any(String) });
  });

  it.each([
    ['join', join],
    ['inbox', joined],
    ['input', input],
    ['output', output],
  ] as const)('[CWIRE-1] %s: a __proto__ key is refused and pollutes nothing', (name, base) => {
    const decoded = decoders[name](toBytes(edit(base, {}).replace('{', '{"__proto__":{"polluted":1},')));
    expect(decoded).toMatchObject({ ok: false, code: NotJson });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('[CWIRE-1] accepts every field at its limit, and cuts reasons to 1024', () => {
    const max = Number.MAX_SAFE_INTEGER;
    const decode = (name: Name, base: object, patch: object) =>
      decoders[name](toBytes(edit(base, { ...patch })));
    const [id, s256, s512, s1024] = [long(128), long(256), long(512), long(1024)];
    const ids = { id, gateway: s256, attachment: s512, tenant: s1024, room: s1024, clientId: s256, user: '' };
    expect(decode('join', join, { ...ids, sessionStamp: max, resumeFrame: max, team: '' }).ok).toBe(true);
    expect(decode('inbox', elsewhere, { id, owner: s256, retryMs: max }).ok).toBe(true);
    expect(decode('inbox', detached, { ...where, attachments: Array(10_000).fill(s512) }).ok).toBe(true);
    const refusal = decode('inbox', refused, { code: long(64), reason: long(2000) });
    expect(refusal).toMatchObject({ value: { code: long(64), reason: s1024 } });
    const items = [{ close: s256, code: max, reason: long(1025) }];
    expect(decode('output', output, { items })).toMatchObject({ value: { items: [{ reason: s1024 }] } });
    expect(decode('input', input, { gateway: s256, items: [] }).ok).toBe(true);
  });

  // Found by this corpus: JSON.parse takes nesting that later overflows the stack of whatever walks it (an error
  // message's JSON.stringify did). Depth is now checked before parsing.
  it.each(Object.keys(decoders))(
    '[CWIRE-1] %s refuses a deeply nested v as too deep, without throwing',
    (name) => {
      expect(decoders[name as Name](toBytes(`{"v":${deep}}`))).toMatchObject({ ok: false, code: NotJson });
    },
  );

  it('[CWIRE-1] inbox refuses a deeply nested kind as too deep, without throwing', () => {
    const text = `{"v":1,"kind":${deep}}`;
    expect(decodeGatewayInboxMessage(toBytes(text))).toMatchObject({ ok: false, code: NotJson });
  });

  it('[CWIRE-1] refuses too-deep JSON with CLUSTER_WIRE_NOT_JSON even in a field the decoder ignores', () => {
    const text = `{"v":1,"gateway":"g","items":[],"x":${deep}}`;
    expect(decodeRoomInputBatch(toBytes(text))).toMatchObject({ ok: false, code: NotJson });
  });

  it('[CWIRE-1] names a bad version briefly, whatever its size', () => {
    const decoded = decodeRoomInputBatch(toBytes(`{"v":"${'x'.repeat(100_000)}"}`));
    expect(decoded).toMatchObject({ ok: false, code: UnknownVersion });
    expect(decoded.ok ? '' : decoded.message.length).toBeLessThan(200);
  });
});

/** `fc.record` of plain objects (it also makes null-prototype ones, which `toStrictEqual` tells apart). */
const rec = ((model: never, constraints?: object) =>
  fc.record(model, { ...constraints, noNullPrototype: true } as never)) as typeof fc.record;
/** Any code point, plus lone surrogates and the characters JSON escapes. */
const char = fc.oneof(
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
  fc.constantFrom('\ud800', '\udfff', '"', '\\', '\u0000', '\u2028'),
);
const text = (max: number, minLength = 1) =>
  fc.string({ unit: char, minLength, maxLength: Math.min(max, 40) }).filter((s) => s.length <= max);
const count = fc.oneof(fc.nat(5000), fc.maxSafeNat());
const [id, s256, s512, s1024] = [text(128), text(256), text(512), text(1024)];
const [msg, why] = [text(200, 0), text(1024, 0)];
const key = rec({ tenant: s1024, room: s1024 });
const principal = rec({ user: text(64, 0), team: text(64, 0) });

const ids = { id, gateway: s256, attachment: s512, key, clientId: s256 };
const joinArb: fc.Arbitrary<joinCommand.JoinCommand> = rec(
  { ...ids, sessionStamp: count, resumeFrame: count, principal, avoid: fc.array(s256, { maxLength: 16 }) },
  { requiredKeys: ['id', 'gateway', 'attachment', 'key', 'clientId', 'sessionStamp'] },
);
const inboxArb: fc.Arbitrary<inbox.GatewayInboxMessage> = fc.oneof(
  rec({ kind: fc.constant('joined'), id, epoch: count }),
  rec({ kind: fc.constant('refused'), id, code: text(64), reason: why, closeCode: count }),
  rec(
    { kind: fc.constant('elsewhere'), id, owner: s256, retryMs: count },
    { requiredKeys: ['kind', 'id', 'retryMs'] },
  ),
  rec({ kind: fc.constant('detached'), key, attachments: fc.array(s512, { maxLength: 5 }) }),
);
const leave = rec({ attachment: s512, leave: fc.constant(true) });
const inputItem = fc.oneof(rec({ attachment: s512, message: msg }), leave);
const inputArb: fc.Arbitrary<inputBatch.RoomInputBatch> = rec({ gateway: s256, items: fc.array(inputItem) });
const outputItem = fc.oneof(
  rec({ kind: fc.constant('broadcast'), message: msg }),
  rec({ kind: fc.constant('send'), connectionId: s256, message: msg }),
  rec({ kind: fc.constant('close'), connectionId: s256, code: count, reason: why }),
  rec({ kind: fc.constant('welcome'), attachment: s512, message: msg }),
);
const outputArb: fc.Arbitrary<outputBatch.RoomOutputBatch> = rec({ items: fc.array(outputItem) });

type RoundTrip = readonly [Name, fc.Arbitrary<unknown>, (value: never) => Uint8Array];
const roundTrips: readonly RoundTrip[] = [
  ['join', joinArb, encodeJoinCommand],
  ['inbox', inboxArb, encodeGatewayInboxMessage],
  ['input', inputArb, encodeRoomInputBatch],
  ['output', outputArb, encodeRoomOutputBatch],
];

/** Objects made of the decoders' own field names, so fuzzing reaches past the envelope checks. */
const fields =
  'id gateway attachment tenant room clientId sessionStamp resumeFrame user team kind epoch code reason'
    .concat(' closeCode owner retryMs attachments items a m leave b to close welcome')
    .split(' ');
const atoms: unknown[] = ['joined', 'refused', 'elsewhere', 'detached', '', true, null, 0, -1, 1.5, 2 ** 53];
const atom = fc.oneof(fc.constantFrom(...atoms), fc.jsonValue({ maxDepth: 2 }));
const shaped = fc.letrec<{ obj: Record<string, unknown>; value: unknown }>((tie) => ({
  obj: fc.dictionary(fc.constantFrom(...fields), tie('value'), { maxKeys: 8 }),
  value: fc.oneof({ depthSize: 'small' }, atom, fc.array(tie('obj'), { maxLength: 3 }), fc.array(atom)),
})).obj;
const fuzzBytes = fc.oneof(
  fc.uint8Array({ maxLength: 64 }),
  fc.jsonValue().map((value) => toBytes(JSON.stringify(value))),
  shaped.map((o) => toBytes(JSON.stringify({ ...o, v }))),
);

describe('cluster wire decoders properties', () => {
  it.each(roundTrips)('[CWIRE-2] %s: decode(encode(x)) equals x', (name, arb, encode) => {
    fc.assert(
      fc.property(arb, (value) => {
        expect(decoders[name](encode(value as never))).toStrictEqual({ ok: true, value });
      }),
      capped({ numRuns: 500 }),
    );
  });

  it.each(roundTrips)('[CWIRE-3] %s: never throws on any bytes or JSON', (name, _, encode) => {
    fc.assert(
      fc.property(fuzzBytes, (bytes) => {
        const decoded = decoders[name](bytes);
        // What it accepts, it decodes the same again once re-encoded.
        if (decoded.ok) expect(decoders[name](encode(decoded.value as never))).toStrictEqual(decoded);
        else expect(codes).toContain(decoded.code);
      }),
      capped({ numRuns: 2000 }),
    );
  });
});

describe('document calls (simulator requests)', () => {
  const call = { v, kind: 'call', id: 'c1', gateway: 'g', ...where };
  const bad: Corpus = [
    ['kind other than call', edit(call, { kind: 'join', op: 'follow' }), Malformed],
    ['no op', edit(call, {}), Malformed],
    ['unknown op', edit(call, { op: 'drop' }), Malformed],
    ['no id', edit(call, { id: undefined, op: 'follow' }), Malformed],
    ['no room', edit(call, { room: undefined, op: 'follow' }), Malformed],
    ['user without team', edit(call, { op: 'follow', user: 'u' }), Malformed],
    ['bootstrap since -1', edit(call, { op: 'bootstrap', since: -1 }), Malformed],
    ['bootstrap since 1.5', edit(call, { op: 'bootstrap', since: 1.5 }), Malformed],
    ['catchup without from', edit(call, { op: 'catchup' }), Malformed],
    ['change without origin', edit(call, { op: 'change', patches: [] }), Malformed],
    ['change patches not a list', edit(call, { op: 'change', patches: {}, origin: 'o' }), Malformed],
    [
      'change patch not an object of objects',
      edit(call, { op: 'change', patches: [{ a: 1 }], origin: 'o' }),
      Malformed,
    ],
    ['deeply nested', `{"v":1,"kind":"call","x":${deep}}`, NotJson],
  ];
  it.each(bad)('[CWIRE-1] decodeSimulatorRequest refuses %s', (_name, bytes, code) => {
    expect(decodeSimulatorRequest(toBytes(bytes))).toMatchObject({ ok: false, code });
  });

  it('[CWIRE-2] every call round-trips, and a join still decodes as a join', () => {
    const key = { tenant: 't ü', room: 'doc/team/notes' };
    const principal = { user: 'u', team: 'team' };
    const calls: DocumentCall[] = [
      { id: 'a', gateway: 'g', key, op: 'bootstrap' },
      { id: 'b', gateway: 'g', key, principal, op: 'bootstrap', since: 7 },
      { id: 'c', gateway: 'g', key, op: 'change', patches: [{ card: { title: 'x' } }], origin: 'http:u' },
      { id: 'd', gateway: 'g', key, op: 'follow' },
      { id: 'e', gateway: 'g', key, op: 'unfollow' },
      { id: 'f', gateway: 'g', key, op: 'catchup', from: 3 },
    ];
    for (const c of calls)
      expect(decodeSimulatorRequest(encodeDocumentCall(c))).toEqual({
        ok: true,
        value: { kind: 'call', call: c },
      });
    const command = {
      id: 'j',
      gateway: 'g',
      attachment: 'g:1',
      key,
      clientId: 'c',
      sessionStamp: 1,
      document: true,
    };
    expect(decodeSimulatorRequest(joinCommand.encodeJoinCommand(command))).toEqual({
      ok: true,
      value: { kind: 'join', command },
    });
  });
});

describe('output parts (messages larger than one bus message)', () => {
  const messageItem = fc.oneof(
    fc.record({
      kind: fc.constant('broadcast' as const),
      message: fc.string({ unit: char, maxLength: 3000 }),
    }),
    fc.record({
      kind: fc.constant('send' as const),
      connectionId: fc.string({ minLength: 1, maxLength: 20 }),
      message: fc.string({ unit: char, maxLength: 3000 }),
    }),
    fc.record({
      kind: fc.constant('welcome' as const),
      attachment: fc.string({ minLength: 1, maxLength: 20 }),
      message: fc.string({ unit: char, maxLength: 3000 }),
    }),
    fc.record({
      kind: fc.constant('close' as const),
      connectionId: fc.string({ minLength: 1, maxLength: 20 }),
      code: fc.integer({ min: 1000, max: 4999 }),
      reason: fc.string({ maxLength: 50 }),
    }),
  );

  it('[CWIRE-4] splitOutputItems keeps every batch within the limit, and the assembler gives back exactly the items', () => {
    fc.assert(
      fc.property(
        fc.array(messageItem, { maxLength: 12 }),
        fc.integer({ min: 400, max: 4000 }),
        (items, maxBytes) => {
          const batches = splitOutputItems(items, maxBytes);
          const assembler = new OutputPartAssembler();
          const out: RoomOutputItem[] = [];
          for (const batch of batches) {
            const bytes = encodeRoomOutputBatch({ items: batch });
            expect(bytes.byteLength).toBeLessThanOrEqual(maxBytes);
            const decoded = decodeRoomOutputBatch(bytes);
            expect(decoded.ok).toBe(true);
            for (const item of decoded.ok ? decoded.value.items : []) {
              const whole = assembler.accept(item);
              if (whole !== undefined) out.push(whole);
            }
          }
          expect(out).toEqual(items);
        },
      ),
      capped({ numRuns: 300 }),
    );
  });
});

describe('result parts (gateway inbox)', () => {
  const part = { v, kind: 'result-part', id: 'r1', index: 0, count: 2, text: '{"a"' };
  const bad: Corpus = [
    ['index = count', edit(part, { index: 2 }), Malformed],
    ['negative index', edit(part, { index: -1 }), Malformed],
    ['count above 100000', edit(part, { count: 100_001 }), Malformed],
    ['no text', edit(part, { text: undefined }), Malformed],
    ['text not a string', edit(part, { text: 5 }), Malformed],
    ['no id', edit(part, { id: undefined }), Malformed],
  ];
  it.each(bad)('[CWIRE-1] decodeGatewayInboxMessage refuses a result part with %s', (_name, bytes, code) => {
    expect(decoders.inbox(toBytes(bytes))).toMatchObject({ ok: false, code });
  });

  it('[CWIRE-2] a result part round-trips', () => {
    const message = { kind: 'result-part' as const, id: 'r1', index: 1, count: 3, text: '"x":[1,2' };
    expect(decoders.inbox(inbox.encodeGatewayInboxMessage(message))).toEqual({ ok: true, value: message });
  });
});
