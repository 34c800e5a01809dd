import { describe, expect, it } from 'vitest';
import {
  defaultJsonLimits,
  ErrorCode,
  isForbiddenKey,
  isJsonValue,
  isPlainObject,
  parseJson,
  type JsonLimits,
} from '@p3/protocol';
import { expectFailure } from './json-fixtures.js';

const small: JsonLimits = { maxLength: 1000, maxDepth: 4, maxKeys: 3 };

const nestedArrays = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);
const nestedObjects = (depth: number): string => '{"a":'.repeat(depth - 1) + '{}' + '}'.repeat(depth - 1);

describe('parseJson: valid input', () => {
  it.each([
    ['null', null],
    ['true', true],
    ['false', false],
    ['0', 0],
    ['-12.5e3', -12500],
    ['1.7976931348623157e308', Number.MAX_VALUE],
    ['"a\\u00e9\\"b"', 'aé"b'],
    ['[]', []],
    ['{}', {}],
    [' { "a" : [1, {"b": null}] } ', { a: [1, { b: null }] }],
  ])('parses %s', (text, expected) => {
    expect(parseJson(text)).toEqual({ ok: true, value: expected });
  });

  it('uses defaultJsonLimits when no limits are given', () => {
    expect(defaultJsonLimits).toEqual({ maxLength: 1 << 20, maxDepth: 32, maxKeys: 10_000 });
    expect(parseJson(nestedArrays(32)).ok).toBe(true);
    expectFailure(parseJson(nestedArrays(33)), ErrorCode.TooDeep);
  });
});

describe('parseJson: length limit', () => {
  it('accepts a text of exactly maxLength characters', () => {
    const text = `"${'x'.repeat(small.maxLength - 2)}"`;
    expect(text.length).toBe(small.maxLength);
    expect(parseJson(text, small).ok).toBe(true);
  });

  it('refuses maxLength + 1 characters with TOO_LARGE', () => {
    expectFailure(parseJson(`"${'x'.repeat(small.maxLength - 1)}"`, small), ErrorCode.TooLarge);
  });

  it('checks the length before parsing (oversized garbage is TOO_LARGE, not MALFORMED)', () => {
    expectFailure(parseJson('{'.repeat(small.maxLength + 1), small), ErrorCode.TooLarge);
  });

  it('counts UTF-16 code units', () => {
    const emoji = '\u{1F600}'; // two code units
    expect(parseJson(`"${emoji.repeat(499)}"`, small).ok).toBe(true); // 998 + 2 quotes = 1000
    expectFailure(parseJson(`"${emoji.repeat(500)}"`, small), ErrorCode.TooLarge);
  });
});

describe('parseJson: depth limit (pre-scan)', () => {
  it('accepts nesting of exactly maxDepth', () => {
    expect(parseJson(nestedArrays(4), small).ok).toBe(true);
    expect(parseJson(nestedObjects(4), small).ok).toBe(true);
    expect(parseJson('{"a":[{"b":[]}]}', small).ok).toBe(true);
  });

  it.each([
    ['arrays', nestedArrays(5)],
    ['objects', nestedObjects(5)],
    ['mixed', '{"a":[{"b":[{}]}]}'],
    ['deep in the second branch', '[[], [[[[1]]]]]'],
  ])('refuses maxDepth + 1 of %s with TOO_DEEP', (_, text) => {
    expectFailure(parseJson(text, small), ErrorCode.TooDeep);
  });

  it('checks depth before parsing: unbalanced deep input is TOO_DEEP, not MALFORMED', () => {
    expectFailure(parseJson('[[[[[[', small), ErrorCode.TooDeep);
  });

  it('refuses 100000 "[" with TOO_DEEP without recursing', () => {
    const text = '['.repeat(100_000);
    expectFailure(parseJson(text, { ...defaultJsonLimits, maxLength: text.length }), ErrorCode.TooDeep);
  });

  it('does not count siblings as depth', () => {
    expect(parseJson(`[${Array.from({ length: 150 }, () => '[[]]').join(',')}]`, small).ok).toBe(true);
  });

  it('ignores brackets inside strings', () => {
    const text = `{"a":"${'[{'.repeat(50)}","b":["]]]]]]"]}`;
    expect(parseJson(text, small)).toEqual({ ok: true, value: { a: '[{'.repeat(50), b: [']]]]]]'] } });
  });

  it('does not end a string at an escaped quote', () => {
    const text = `["\\"${'['.repeat(20)}"]`;
    expect(parseJson(text, small)).toEqual({ ok: true, value: [`"${'['.repeat(20)}`] });
  });

  it('ends a string after an escaped backslash, so brackets after it count', () => {
    // "\\" is a complete string holding one backslash; the brackets after it are structure.
    expectFailure(parseJson(`["\\\\",${nestedArrays(4)}]`, small), ErrorCode.TooDeep);
    expect(parseJson(`["\\\\",${nestedArrays(3)}]`, small)).toEqual({ ok: true, value: ['\\', [[[]]]] });
  });

  it('skips a unicode escape without misreading it', () => {
    expect(parseJson('["\\u005b\\u005b\\u005b\\u005b\\u005b"]', small)).toEqual({
      ok: true,
      value: ['[[[[['],
    });
  });
});

describe('parseJson: keys per object', () => {
  it('accepts maxKeys keys in one object', () => {
    expect(parseJson('{"a":1,"b":2,"c":3}', small).ok).toBe(true);
  });

  it('refuses maxKeys + 1 keys with TOO_LARGE', () => {
    expectFailure(parseJson('{"a":1,"b":2,"c":3,"d":4}', small), ErrorCode.TooLarge);
  });

  it('applies the limit per object, not per message', () => {
    expect(parseJson('[{"a":1,"b":2,"c":3},{"a":1,"b":2,"c":3}]', small).ok).toBe(true);
  });

  it('applies the limit to nested objects', () => {
    expectFailure(parseJson('{"x":[{"a":1,"b":2,"c":3,"d":4}]}', small), ErrorCode.TooLarge);
  });
});

describe('parseJson: prototype keys', () => {
  const placements: ReadonlyArray<[string, (key: string) => string]> = [
    ['at the top level', (k) => `{"${k}":{"polluted":true}}`],
    ['beside other keys', (k) => `{"a":1,"${k}":1,"z":2}`],
    ['in an object in an array', (k) => `[1,{"${k}":1}]`],
    ['deep in objects', (k) => `{"a":{"b":{"c":{"${k}":null}}}}`],
    ['as a key holding an array', (k) => `{"${k}":[]}`],
  ];
  for (const key of ['__proto__', 'constructor', 'prototype']) {
    it.each(placements)(`refuses "${key}" %s with PROTOTYPE_KEY`, (_, make) => {
      expectFailure(parseJson(make(key)), ErrorCode.PrototypeKey, key);
    });
  }

  it('refuses a prototype key spelled with escapes', () => {
    expectFailure(parseJson('{"__pro\\u0074o__":{}}'), ErrorCode.PrototypeKey, '__proto__');
    expectFailure(parseJson('{"\\u0063onstructor":{}}'), ErrorCode.PrototypeKey, 'constructor');
  });

  it('accepts the same words as string values and as parts of longer keys', () => {
    const text = '{"a":"__proto__","constructors":1,"__proto__x":2,"prototype_":["constructor"]}';
    expect(parseJson(text)).toEqual({ ok: true, value: JSON.parse(text) as unknown });
  });

  it('leaves Object.prototype untouched when refusing', () => {
    parseJson('{"__proto__":{"pwned":true}}');
    expect(({} as Record<string, unknown>).pwned).toBeUndefined();
  });
});

describe('parseJson: numbers and malformed text', () => {
  it.each(['1e999', '-1e999', '[1,2,1e400]', '{"a":{"b":-1e309}}'])('refuses %s with NOT_FINITE', (text) => {
    expectFailure(parseJson(text), ErrorCode.NotFinite);
  });

  it.each([
    '',
    '   ',
    '{',
    '[1,]',
    '{"a":1,}',
    "{'a':1}",
    '{"a" 1}',
    '{}x',
    'NaN',
    'Infinity',
    '-Infinity',
    '[NaN]',
    'undefined',
    '01',
    '0x10',
    '+1',
    '.5',
    '"unterminated',
    '"\\x41"',
    '"tab\there"',
  ])('refuses %j with MALFORMED', (text) => {
    expectFailure(parseJson(text), ErrorCode.Malformed);
  });
});

describe('isJsonValue', () => {
  const cycle: Record<string, unknown> = {};
  cycle.self = cycle;

  it.each([
    ['null', null],
    ['a string', 'x'],
    ['a boolean', false],
    ['a finite number', -1.5e300],
    ['an empty array', []],
    ['nested data', { a: [1, 'b', { c: null }], d: true }],
    ['a null-prototype object', Object.assign(Object.create(null) as object, { a: 1 })],
  ])('accepts %s', (_, value) => {
    expect(isJsonValue(value)).toBe(true);
  });

  it.each([
    ['undefined', undefined],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['-Infinity', Number.NEGATIVE_INFINITY],
    ['a function', () => 1],
    ['a symbol', Symbol('s')],
    ['a bigint', 1n],
    ['a Date', new Date(0)],
    ['a Map', new Map()],
    [
      'a class instance',
      new (class Point {
        x = 1;
      })(),
    ],
    ['an object holding undefined', { a: undefined }],
    ['an array holding a function', [1, () => 2]],
    ['an object with an own __proto__ key', JSON.parse('{"__proto__":1}') as unknown],
    ['an object with a constructor key', { constructor: 1 }],
    ['a nested prototype key', { a: [{ prototype: 1 }] }],
    ['NaN deep inside', { a: [[{ b: Number.NaN }]] }],
    ['a cycle', cycle],
  ])('refuses %s', (_, value) => {
    expect(isJsonValue(value)).toBe(false);
  });

  it('allows containers nested exactly maxDepth deep', () => {
    expect(isJsonValue([[[]]], 3)).toBe(true);
    expect(isJsonValue([[[[]]]], 3)).toBe(false);
    expect(isJsonValue({ a: { b: {} } }, 3)).toBe(true);
    expect(isJsonValue({ a: { b: { c: {} } } }, 3)).toBe(false);
  });

  it('defaults to a depth of 32', () => {
    let value: unknown = [];
    for (let i = 1; i < 32; i++) value = [value];
    expect(isJsonValue(value)).toBe(true);
    expect(isJsonValue([value])).toBe(false);
  });

  it('agrees with parseJson on everything parseJson accepts', () => {
    const parsed = parseJson('{"a":[1,"x",{"b":null,"c":[true]}]}');
    expect(parsed.ok && isJsonValue(parsed.value)).toBe(true);
  });
});

describe('isForbiddenKey and isPlainObject', () => {
  it.each(['__proto__', 'constructor', 'prototype'])('forbids %s', (key) => {
    expect(isForbiddenKey(key)).toBe(true);
  });

  it.each(['proto', '__proto', 'Constructor', 'toString', 'hasOwnProperty', ''])('allows %j', (key) => {
    expect(isForbiddenKey(key)).toBe(false);
  });

  it('treats objects as plain, and arrays and null as not', () => {
    expect(isPlainObject({})).toBe(true);
    expect(isPlainObject(Object.create(null))).toBe(true);
    expect(isPlainObject([])).toBe(false);
    expect(isPlainObject(null)).toBe(false);
    expect(isPlainObject('x')).toBe(false);
  });
});
