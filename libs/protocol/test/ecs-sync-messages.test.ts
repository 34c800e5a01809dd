import { describe, expect, it } from 'vitest';
import {
  decodeEcsSyncClientMessage,
  defaultEcsSyncCodecLimits,
  ecsSyncLimits,
  ErrorCode,
  readPatch,
  validatePatch,
  type Patch,
} from '@p3/protocol';
import { ecsSamples, expectFailure, manyKeys, withValue, type Path } from './json-fixtures.js';

const decode = decodeEcsSyncClientMessage;
const missing = undefined;

describe('ecs-sync patch', () => {
  it('decodes a patch with document and ephemeral patches', () => {
    expect(decode(JSON.stringify(ecsSamples.patch))).toEqual({ ok: true, value: ecsSamples.patch });
  });

  it('decodes from UTF-8 bytes', () => {
    expect(decode(new TextEncoder().encode(JSON.stringify(ecsSamples.patch)))).toEqual({
      ok: true,
      value: ecsSamples.patch,
    });
  });

  it('decodes a patch without patches, and with empty arrays', () => {
    expect(decode('{"type":"patch","messageId":"m"}')).toEqual({
      ok: true,
      value: { type: 'patch', messageId: 'm' },
    });
    expect(decode('{"type":"patch","messageId":"m","documentPatches":[],"ephemeralPatches":[{}]}')).toEqual({
      ok: true,
      value: { type: 'patch', messageId: 'm', documentPatches: [], ephemeralPatches: [{}] },
    });
  });

  it('ignores null patch arrays (the field is absent from the result)', () => {
    const result = decode('{"type":"patch","messageId":"m","documentPatches":null,"ephemeralPatches":null}');
    expect(result).toEqual({ ok: true, value: { type: 'patch', messageId: 'm' } });
    expect(result.ok && 'documentPatches' in result.value).toBe(false);
  });

  it('accepts messageId of 1 and 256 characters', () => {
    expect(decode('{"type":"patch","messageId":"m"}').ok).toBe(true);
    expect(decode(withValue(ecsSamples.patch, ['messageId'], 'm'.repeat(256))).ok).toBe(true);
  });

  it('drops unknown top-level fields', () => {
    expect(decode('{"type":"patch","messageId":"m","clientId":"spoofed","timestamp":99}')).toEqual({
      ok: true,
      value: { type: 'patch', messageId: 'm' },
    });
  });

  it.each([
    ['missing', missing],
    ['empty', ''],
    ['longer than 256', 'm'.repeat(257)],
    ['a number', 5],
    ['null', null],
  ])('refuses a messageId that is %s', (_, messageId) => {
    expectFailure(
      decode(withValue(ecsSamples.patch, ['messageId'], messageId)),
      ErrorCode.InvalidMessage,
      'messageId',
    );
  });
});

describe('ecs-sync reconnect', () => {
  it('decodes a reconnect with protocolVersion', () => {
    expect(decode(JSON.stringify(ecsSamples.reconnect))).toEqual({ ok: true, value: ecsSamples.reconnect });
  });

  it('decodes the seed-era reconnect without protocolVersion (absent from the result)', () => {
    const result = decode('{"type":"reconnect","lastTimestamp":0}');
    expect(result).toEqual({ ok: true, value: { type: 'reconnect', lastTimestamp: 0 } });
    expect(result.ok && 'protocolVersion' in result.value).toBe(false);
  });

  it('floors a fractional lastTimestamp', () => {
    expect(decode('{"type":"reconnect","lastTimestamp":41.9}')).toEqual({
      ok: true,
      value: { type: 'reconnect', lastTimestamp: 41 },
    });
  });

  it('carries offline patches', () => {
    const wire =
      '{"type":"reconnect","lastTimestamp":3,"documentPatches":[{"e/C":{"_exists":false}}],"ephemeralPatches":null}';
    expect(decode(wire)).toEqual({
      ok: true,
      value: { type: 'reconnect', lastTimestamp: 3, documentPatches: [{ 'e/C': { _exists: false } }] },
    });
  });

  it.each([
    ['missing', missing],
    ['negative', -1],
    ['a string', '5'],
    ['null', null],
    ['a boolean', true],
  ])('refuses a lastTimestamp that is %s', (_, lastTimestamp) => {
    expectFailure(
      decode(withValue(ecsSamples.reconnect, ['lastTimestamp'], lastTimestamp)),
      ErrorCode.InvalidMessage,
      'lastTimestamp',
    );
  });

  it.each([
    ['negative', -1],
    ['above 65535', 0x10000],
    ['fractional', 1.5],
    ['a string', '1'],
    ['null', null],
  ])('refuses a protocolVersion that is %s', (_, protocolVersion) => {
    expectFailure(
      decode(withValue(ecsSamples.reconnect, ['protocolVersion'], protocolVersion)),
      ErrorCode.InvalidMessage,
      'protocolVersion',
    );
  });
});

describe('ecs-sync patches must be arrays of objects of objects', () => {
  const cases: ReadonlyArray<[string, Path, unknown, string]> = [
    ['documentPatches a number', ['documentPatches'], 5, 'documentPatches'],
    ['documentPatches an object', ['documentPatches'], {}, 'documentPatches'],
    ['documentPatches a string', ['documentPatches'], 'x', 'documentPatches'],
    ['ephemeralPatches a boolean', ['ephemeralPatches'], false, 'ephemeralPatches'],
    ['a patch that is a number', ['documentPatches', 0], 5, 'documentPatches[0]'],
    ['a patch that is an array', ['documentPatches', 0], [], 'documentPatches[0]'],
    ['a patch that is null', ['documentPatches', 0], null, 'documentPatches[0]'],
    ['an ephemeral patch that is a string', ['ephemeralPatches', 0], 'x', 'ephemeralPatches[0]'],
    [
      'component data that is a number',
      ['documentPatches', 0, 'e1/Position'],
      5,
      'documentPatches[0]["e1/Position"]',
    ],
    [
      'component data that is an array',
      ['documentPatches', 0, 'e1/Position'],
      [1],
      'documentPatches[0]["e1/Position"]',
    ],
    [
      'component data that is null',
      ['documentPatches', 0, 'e1/Position'],
      null,
      'documentPatches[0]["e1/Position"]',
    ],
    [
      'component data that is a string',
      ['ephemeralPatches', 0, 'SINGLETON/Cursor'],
      'x',
      'ephemeralPatches[0]["SINGLETON/Cursor"]',
    ],
    ['an empty key', ['documentPatches', 0, ''], {}, 'documentPatches[0]'],
    ['a key longer than 512', ['documentPatches', 0, 'k'.repeat(513)], {}, 'documentPatches[0]'],
    ['_exists a string', ['documentPatches', 0, 'e2/Shape', '_exists'], 'false', 'e2/Shape'],
    ['_exists a number', ['documentPatches', 0, 'e2/Shape', '_exists'], 0, 'e2/Shape'],
    ['_exists null', ['ephemeralPatches', 0, 'SINGLETON/Cursor', '_exists'], null, 'SINGLETON/Cursor'],
  ];

  it.each(cases)('refuses %s with INVALID_MESSAGE', (_, path, value, detail) => {
    expectFailure(decode(withValue(ecsSamples.patch, path, value)), ErrorCode.InvalidMessage, detail);
  });

  it('refuses the same shapes in a reconnect', () => {
    expectFailure(
      decode(withValue(ecsSamples.reconnect, ['documentPatches', 0, 'e1/Position'], 1)),
      ErrorCode.InvalidMessage,
    );
    expectFailure(
      decode(withValue(ecsSamples.reconnect, ['ephemeralPatches'], {})),
      ErrorCode.InvalidMessage,
      'ephemeralPatches',
    );
  });

  it('accepts a 512-character key, _exists true and false, and any JSON in fields', () => {
    const patch = {
      ['k'.repeat(512)]: { _exists: true, a: [1, { b: null }], s: 'x' },
      'e/c': { _exists: false },
    };
    expect(decode(JSON.stringify({ type: 'patch', messageId: 'm', documentPatches: [patch] }))).toEqual({
      ok: true,
      value: { type: 'patch', messageId: 'm', documentPatches: [patch] },
    });
  });

  it.each([
    [
      'a patch key',
      '{"type":"patch","messageId":"m","documentPatches":[{"__proto__":{"x":1}}]}',
      '__proto__',
    ],
    [
      'a component field',
      '{"type":"patch","messageId":"m","documentPatches":[{"e/c":{"constructor":1}}]}',
      'constructor',
    ],
    [
      'a value deep in a field',
      '{"type":"patch","messageId":"m","ephemeralPatches":[{"e/c":{"v":{"prototype":[]}}}]}',
      'prototype',
    ],
    ['the top level', '{"type":"reconnect","lastTimestamp":0,"__proto__":{}}', '__proto__'],
  ])('refuses a prototype key in %s with PROTOTYPE_KEY', (_, wire, key) => {
    expectFailure(decode(wire), ErrorCode.PrototypeKey, key);
  });
});

describe('ecs-sync message types and limits', () => {
  it.each([
    ['missing', '{"messageId":"m"}'],
    ['a server type', '{"type":"ack","messageId":"m","timestamp":1}'],
    ['a number', '{"type":1}'],
    ['null', '{"type":null}'],
    ['of the wrong case', '{"type":"Patch","messageId":"m"}'],
  ])('refuses a type that is %s with UNKNOWN_MESSAGE_TYPE', (_, wire) => {
    expectFailure(decode(wire), ErrorCode.UnknownMessageType);
  });

  it('reports an unknown type even when its patches are malformed', () => {
    expectFailure(decode('{"type":"nope","documentPatches":5}'), ErrorCode.UnknownMessageType);
  });

  it.each([
    ['a number', '5'],
    ['an array', '[]'],
    ['null', 'null'],
    ['a string', '"patch"'],
  ])('refuses %s as a message with INVALID_MESSAGE', (_, wire) => {
    expectFailure(decode(wire), ErrorCode.InvalidMessage, 'message');
  });

  it('accepts maxPatchesPerMessage patches and refuses one more', () => {
    const wire = (n: number): string =>
      JSON.stringify({
        type: 'patch',
        messageId: 'm',
        documentPatches: Array.from({ length: n }, () => ({})),
      });
    expect(decode(wire(ecsSyncLimits.maxPatchesPerMessage)).ok).toBe(true);
    expectFailure(
      decode(wire(ecsSyncLimits.maxPatchesPerMessage + 1)),
      ErrorCode.InvalidMessage,
      'documentPatches',
    );
  });

  it('accepts maxKeysPerPatch keys in one patch and refuses one more', () => {
    const wire = (n: number): string =>
      JSON.stringify({ type: 'patch', messageId: 'm', documentPatches: [manyKeys(n, () => ({}), 'e/')] });
    const atLimit = decode(wire(ecsSyncLimits.maxKeysPerPatch));
    expect(atLimit.ok ? 'ok' : atLimit.error.message).toBe('ok');
    // One more key is refused while parsing: the JSON layer bounds keys per object at the same limit.
    expectFailure(decode(wire(ecsSyncLimits.maxKeysPerPatch + 1)), ErrorCode.TooLarge);
  });

  it('accepts maxFieldsPerComponent fields and refuses one more', () => {
    const wire = (n: number): string =>
      JSON.stringify({
        type: 'patch',
        messageId: 'm',
        documentPatches: [{ 'e/c': manyKeys(n, (i) => i, 'f') }],
      });
    expect(decode(wire(ecsSyncLimits.maxFieldsPerComponent)).ok).toBe(true);
    expectFailure(
      decode(wire(ecsSyncLimits.maxFieldsPerComponent + 1)),
      ErrorCode.InvalidMessage,
      'documentPatches[0]["e/c"]',
    );
  });

  it('applies the default 1 MiB and depth-32 limits, and custom ones', () => {
    expect(defaultEcsSyncCodecLimits).toEqual({ maxMessageBytes: 1 << 20, maxDepth: 32 });
    const big = JSON.stringify({
      type: 'patch',
      messageId: 'm',
      documentPatches: [{ 'e/c': { s: 'x'.repeat(1 << 20) } }],
    });
    expectFailure(decode(big), ErrorCode.TooLarge);
    const deep = (n: number): string =>
      `{"type":"patch","messageId":"m","documentPatches":[{"e/c":{"v":${'['.repeat(n)}${']'.repeat(n)}}}]}`;
    expect(decode(deep(28)).ok).toBe(true); // 4 levels of message + 28 = 32
    expectFailure(decode(deep(29)), ErrorCode.TooDeep);
    expectFailure(
      decode(JSON.stringify(ecsSamples.patch), { maxMessageBytes: 50, maxDepth: 32 }),
      ErrorCode.TooLarge,
    );
    expectFailure(
      decode(JSON.stringify(ecsSamples.patch), { maxMessageBytes: 1 << 20, maxDepth: 3 }),
      ErrorCode.TooDeep,
    );
  });
});

describe('validatePatch', () => {
  it('returns a valid patch as a copy with the same content', () => {
    const patch: Patch = {
      'e1/Position': { x: 1, _exists: true },
      'SINGLETON/Camera': { zoom: 2, at: [1, 2] },
    };
    const result = validatePatch(patch);
    expect(result).toEqual({ ok: true, value: patch });
    expect(result.ok && result.value).not.toBe(patch);
  });

  it('accepts maxKeysPerPatch keys and refuses one more', () => {
    expect(validatePatch(manyKeys(ecsSyncLimits.maxKeysPerPatch, () => ({}), 'e/')).ok).toBe(true);
    expectFailure(
      validatePatch(manyKeys(ecsSyncLimits.maxKeysPerPatch + 1, () => ({}), 'e/')),
      ErrorCode.InvalidMessage,
      'patch',
    );
  });

  it('accepts an empty patch and null-prototype objects', () => {
    expect(validatePatch({}).ok).toBe(true);
    const component = Object.assign(Object.create(null) as object, { x: 1 });
    expect(validatePatch({ 'e/c': component }).ok).toBe(true);
  });

  it.each([
    ['null', null, 'patch'],
    ['an array', [{ 'e/c': {} }], 'patch'],
    ['a number', 5, 'patch'],
    ['a string', '{}', 'patch'],
    ['undefined', undefined, 'patch'],
    ['component data that is a number', { 'e/c': 1 }, 'patch["e/c"]'],
    ['component data that is an array', { 'e/c': [] }, 'patch["e/c"]'],
    ['an empty key', { '': {} }, 'patch'],
    ['_exists a string', { 'e/c': { _exists: 'yes' } }, 'e/c'],
  ])('refuses %s with INVALID_MESSAGE', (_, value, detail) => {
    expectFailure(validatePatch(value), ErrorCode.InvalidMessage, detail);
  });

  it.each([
    ['NaN', { x: Number.NaN }],
    ['Infinity', { x: Number.POSITIVE_INFINITY }],
    ['undefined', { x: undefined }],
    ['a function', { x: () => 1 }],
    ['a bigint', { x: 1n }],
    ['a Date', { x: new Date(0) }],
    [
      'a class instance',
      {
        x: new (class V {
          a = 1;
        })(),
      },
    ],
    ['NaN nested in an array', { x: [1, [Number.NaN]] }],
  ])('refuses component data holding %s (not JSON data)', (_, component) => {
    expectFailure(validatePatch({ 'e/c': component }), ErrorCode.InvalidMessage, 'e/c');
  });

  it.each([
    ['a patch key', '{"__proto__":{"x":1}}', '__proto__'],
    ['a component field', '{"e/c":{"constructor":1}}', 'constructor'],
    ['a prototype field', '{"e/c":{"prototype":1}}', 'prototype'],
  ])('refuses a prototype key in %s with PROTOTYPE_KEY', (_, text, key) => {
    expectFailure(validatePatch(JSON.parse(text) as unknown), ErrorCode.PrototypeKey, key);
  });

  it('turns an unexpected exception (a throwing getter) into INVALID_MESSAGE with the cause kept', () => {
    const boom = new Error('boom');
    const hostile = {
      get 'e/c'(): never {
        throw boom;
      },
    };
    const result = validatePatch(hostile);
    expectFailure(result, ErrorCode.InvalidMessage);
    expect(!result.ok && result.error.cause).toBe(boom);
  });

  it('readPatch names the offending location after its `what` argument', () => {
    expect(() => readPatch({ 'e/c': 5 }, 'body.patch')).toThrow(/body\.patch\["e\/c"\] must be an object/);
  });
});
