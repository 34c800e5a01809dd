import { describe, expect, it } from 'vitest';
import {
  AccessControl,
  DataType,
  ErrorCode,
  fieldAccess,
  fieldMaxLength,
  isReplicable,
  isValidName,
  schemaLimits,
  toWireSchema,
  validateEntityType,
  validateSchema,
  type FieldSpec,
  type WorldSchema,
} from '@p3/protocol';
import { expectFailure, manyKeys, sampleSchema } from './json-fixtures.js';

/** A schema with one type `T` holding one field `f` of the given spec. */
const oneField = (spec: unknown): unknown => ({ T: { fields: { f: spec } } });

/** Asserts that validateSchema refuses `schema` with INVALID_SCHEMA and a message matching `problem`. */
function expectProblem(schema: unknown, problem: RegExp, detail?: string): void {
  const result = validateSchema(schema);
  expectFailure(result, ErrorCode.InvalidSchema, detail);
  if (!result.ok) expect(result.error.message).toMatch(problem);
}

describe('validateSchema: valid schemas', () => {
  it('accepts a schema using every data type and option, returning it unchanged', () => {
    const result = validateSchema(sampleSchema);
    expect(result.ok).toBe(true);
    if (result.ok) expect(result.value).toBe(sampleSchema);
  });

  it('accepts an empty schema and a type without fields', () => {
    expect(validateSchema({}).ok).toBe(true);
    expect(validateSchema({ Empty: { fields: {} } }).ok).toBe(true);
  });

  it.each(Object.values(DataType))('accepts a bare %s field', (dataType) => {
    expect(validateSchema(oneField({ dataType })).ok).toBe(true);
  });

  it.each(Object.values(AccessControl))('accepts accessControl %s', (accessControl) => {
    expect(validateSchema(oneField({ dataType: 'number', accessControl })).ok).toBe(true);
  });

  it('accepts exactly maxTypes types and maxFieldsPerType fields', () => {
    expect(validateSchema(manyKeys(schemaLimits.maxTypes, () => ({ fields: {} }), 'T')).ok).toBe(true);
    const fields = manyKeys(schemaLimits.maxFieldsPerType, () => ({ dataType: 'boolean' }), 'f');
    expect(validateSchema({ T: { fields } }).ok).toBe(true);
  });

  it('accepts a JSON-parsed schema (what a client receives in welcome)', () => {
    expect(validateSchema(JSON.parse(JSON.stringify(sampleSchema)) as unknown).ok).toBe(true);
  });
});

describe('validateSchema: shape', () => {
  it.each([
    ['null', null],
    ['an array', []],
    ['a string', 'schema'],
    ['a number', 1],
    ['undefined', undefined],
  ])('refuses %s as a schema', (_, schema) => {
    expectProblem(schema, /schema must be an object/);
  });

  it('refuses more than maxTypes types', () => {
    expectProblem(
      manyKeys(schemaLimits.maxTypes + 1, () => ({ fields: {} }), 'T'),
      /at most 256 entity types/,
    );
  });

  it.each([
    ['null', null],
    ['a number', 3],
    ['a string', 'Player'],
  ])('refuses %s as an entity type', (_, spec) => {
    expectProblem({ T: spec }, /must be an object/, 'T');
  });

  it.each([
    ['missing', {}],
    ['null', { fields: null }],
    ['an array', { fields: [] }],
    ['a string', { fields: 'x' }],
  ])('refuses fields that are %s', (_, spec) => {
    expectProblem({ T: spec }, /T\.fields must be an object/, 'T');
  });

  it.each([
    ['a string', 'yes'],
    ['a number', 1],
    ['null', null],
  ])('refuses connectionBound that is %s', (_, connectionBound) => {
    expectProblem({ T: { connectionBound, fields: {} } }, /connectionBound must be a boolean/, 'T');
  });

  it('refuses more than maxFieldsPerType fields', () => {
    const fields = manyKeys(schemaLimits.maxFieldsPerType + 1, () => ({ dataType: 'boolean' }), 'f');
    expectProblem({ T: { fields } }, /more than 128 fields/);
  });

  it('validateEntityType checks one type on its own', () => {
    expect(validateEntityType('Ball', { fields: { y: { dataType: 'number' } } }).ok).toBe(true);
    expectFailure(
      validateEntityType('Ball', { fields: { y: { dataType: 'float' } } }),
      ErrorCode.InvalidSchema,
      'y',
    );
  });
});

describe('validateSchema: names', () => {
  const invalidNames: ReadonlyArray<[string, string]> = [
    ['empty', ''],
    ['starting with a digit', '1abc'],
    ['starting with _', '_a'],
    ['with a dash', 'a-b'],
    ['with a space', 'a b'],
    ['with a dot', 'a.b'],
    ['non-ASCII', 'héros'],
    ['longer than 64', `a${'b'.repeat(64)}`],
    ['constructor', 'constructor'],
    ['prototype', 'prototype'],
    ['__proto__', '__proto__'],
  ];

  it.each(invalidNames)('refuses a type name %s', (_, name) => {
    // JSON.parse makes "__proto__" an own key, as it would arrive from the wire.
    const schema = JSON.parse(`{${JSON.stringify(name)}:{"fields":{}}}`) as unknown;
    expectProblem(schema, /invalid entity type name/, name);
  });

  it.each(invalidNames)('refuses a field name %s', (_, name) => {
    const schema = JSON.parse(`{"T":{"fields":{${JSON.stringify(name)}:{"dataType":"number"}}}}`) as unknown;
    expectProblem(schema, /invalid field name/, name);
  });

  it.each(['id', 'typeName', 'owner', 'input', 'created'])('refuses the reserved field name %s', (name) => {
    expectProblem({ T: { fields: { [name]: { dataType: 'number' } } } }, /reserved field name/, name);
  });

  it.each(['A', 'a', 'a_1', 'Player2', `a${'b'.repeat(63)}`, 'ID', 'owners'])(
    'accepts the name %s',
    (name) => {
      expect(isValidName(name)).toBe(true);
      expect(validateSchema({ [name]: { fields: { [name]: { dataType: 'number' } } } }).ok).toBe(true);
    },
  );
});

describe('validateSchema: field specs', () => {
  it.each([
    ['null', null, /field spec must be an object/],
    ['a string', 'number', /field spec must be an object/],
    ['without dataType', {}, /unknown dataType/],
    ['with an unknown dataType', { dataType: 'float' }, /unknown dataType/],
    ['with a dataType of the wrong case', { dataType: 'Number' }, /unknown dataType/],
    ['with a non-string dataType', { dataType: 1 }, /unknown dataType/],
  ])('refuses a field spec that is %s', (_, spec, problem) => {
    expectProblem(oneField(spec), problem, 'f');
  });

  describe.each(['min', 'max'] as const)('%s', (bound) => {
    it.each(['string', 'boolean', 'json'])(`applies to numeric fields only (refused on %s)`, (dataType) => {
      expectProblem(
        oneField({ dataType, [bound]: 1 }),
        new RegExp(`${bound} applies to number and integer`),
        'f',
      );
    });

    it.each([
      ['a string', '1'],
      ['null', null],
      ['NaN', Number.NaN],
      ['Infinity', Number.POSITIVE_INFINITY],
    ])('must be a finite number (refused: %s)', (_, value) => {
      expectProblem(
        oneField({ dataType: 'number', [bound]: value }),
        new RegExp(`${bound} must be a finite number`),
        'f',
      );
    });

    it.each([
      ['a fraction', 1.5],
      ['beyond safe integers', 2 ** 53],
    ])('must be a safe integer on integer fields (refused: %s)', (_, value) => {
      expectProblem(
        oneField({ dataType: 'integer', [bound]: value }),
        new RegExp(`${bound} must be a safe integer`),
        'f',
      );
    });
  });

  it('refuses min > max and accepts min == max', () => {
    expectProblem(oneField({ dataType: 'number', min: 2, max: 1 }), /min is greater than max/, 'f');
    expectProblem(oneField({ dataType: 'integer', min: 0, max: -1 }), /min is greater than max/, 'f');
    expect(validateSchema(oneField({ dataType: 'number', min: 1, max: 1 })).ok).toBe(true);
    expect(validateSchema(oneField({ dataType: 'number', min: -0.5, max: 0.25 })).ok).toBe(true);
  });

  it('checks interpolate', () => {
    expectProblem(oneField({ dataType: 'number', interpolate: 'yes' }), /interpolate must be a boolean/, 'f');
    for (const dataType of ['string', 'boolean', 'json']) {
      expectProblem(oneField({ dataType, interpolate: true }), /only numeric fields interpolate/, 'f');
      expect(validateSchema(oneField({ dataType, interpolate: false })).ok).toBe(true);
    }
    expect(validateSchema(oneField({ dataType: 'integer', interpolate: true })).ok).toBe(true);
  });

  it.each(['owner', 'Client', '', 1, null])('refuses accessControl %j', (accessControl) => {
    expectProblem(
      oneField({ dataType: 'number', accessControl }),
      /accessControl must be client, server or seed/,
      'f',
    );
  });

  it.each(['no', 0, null])('refuses replicable %j', (replicable) => {
    expectProblem(oneField({ dataType: 'number', replicable }), /replicable must be a boolean/, 'f');
  });

  describe('maxLength', () => {
    it.each(['number', 'integer', 'boolean'])(
      'applies to string and json only (refused on %s)',
      (dataType) => {
        expectProblem(oneField({ dataType, maxLength: 10 }), /maxLength applies to string and json/, 'f');
      },
    );

    it.each([0, -1, 1.5, schemaLimits.maxStringLength + 1, '10', null])('refuses %j', (maxLength) => {
      expectProblem(
        oneField({ dataType: 'string', maxLength }),
        /maxLength must be an integer from 1 to 65536/,
        'f',
      );
    });

    it.each([1, schemaLimits.maxStringLength])('accepts %j on string and json', (maxLength) => {
      expect(validateSchema(oneField({ dataType: 'string', maxLength })).ok).toBe(true);
      expect(validateSchema(oneField({ dataType: 'json', maxLength })).ok).toBe(true);
    });
  });

  describe('precision', () => {
    it.each(['integer', 'string', 'boolean', 'json'])(
      'applies to number only (refused on %s)',
      (dataType) => {
        expectProblem(oneField({ dataType, precision: 0.1 }), /precision applies to number fields/, 'f');
      },
    );

    it.each([0, -0.1, Number.NaN, Number.POSITIVE_INFINITY, '0.1', null])('refuses %j', (precision) => {
      expectProblem(oneField({ dataType: 'number', precision }), /precision must be > 0/, 'f');
    });

    it('accepts a positive step', () => {
      expect(validateSchema(oneField({ dataType: 'number', min: 0, max: 1, precision: 0.001 })).ok).toBe(
        true,
      );
    });
  });

  describe('default', () => {
    it.each([
      ['a function', () => 0],
      ['NaN', Number.NaN],
      ['Infinity', Number.POSITIVE_INFINITY],
      ['a Date', new Date(0)],
      ['an object with a prototype key', { a: JSON.parse('{"__proto__":1}') as unknown }],
    ])('must be JSON data (refused: %s)', (_, value) => {
      expectProblem(oneField({ dataType: 'json', default: value }), /default must be JSON data/, 'f');
    });

    it.each([
      ['number', 'zero', /default must be a number/],
      ['number', null, /default must be a number/],
      ['integer', 1.5, /default must be a safe integer/],
      ['integer', true, /default must be a number/],
      ['boolean', 0, /default must be a boolean/],
      ['string', 5, /default must be a string/],
    ])('must match the dataType (%s refuses %j)', (dataType, value, problem) => {
      expectProblem(oneField({ dataType, default: value }), problem, 'f');
    });

    it('must lie within min..max', () => {
      expectProblem(
        oneField({ dataType: 'integer', min: 1, max: 5, default: 9 }),
        /default is outside min\.\.max/,
        'f',
      );
      expectProblem(
        oneField({ dataType: 'number', min: 1, default: 0 }),
        /default is outside min\.\.max/,
        'f',
      );
      expect(validateSchema(oneField({ dataType: 'integer', min: 1, max: 5, default: 5 })).ok).toBe(true);
    });

    it('must fit maxLength (characters for string, serialized length for json)', () => {
      expectProblem(
        oneField({ dataType: 'string', maxLength: 3, default: 'abcd' }),
        /default is longer than maxLength/,
        'f',
      );
      expect(validateSchema(oneField({ dataType: 'string', maxLength: 3, default: 'abc' })).ok).toBe(true);
      const long = 'x'.repeat(schemaLimits.defaultStringLength + 1);
      expectProblem(oneField({ dataType: 'string', default: long }), /default is longer than maxLength/, 'f');
      expectProblem(
        oneField({ dataType: 'json', maxLength: 6, default: ['abcd'] }),
        /default is longer than maxLength/,
        'f',
      );
      expect(validateSchema(oneField({ dataType: 'json', maxLength: 8, default: ['abcd'] })).ok).toBe(true);
    });

    it.each([
      ['number', 0.5],
      ['integer', -3],
      ['boolean', false],
      ['string', ''],
      ['json', null],
      ['json', { a: [1, 'b'] }],
    ])('accepts a %s default of %j', (dataType, value) => {
      expect(validateSchema(oneField({ dataType, default: value })).ok).toBe(true);
    });
  });

  it('names the type and field in the message', () => {
    const result = validateSchema({ Ship: { fields: { speed: { dataType: 'number', min: 5, max: 1 } } } });
    expectFailure(result, ErrorCode.InvalidSchema, 'speed');
    if (!result.ok) expect(result.error.message).toBe('Ship.speed: min is greater than max');
  });
});

describe('toWireSchema', () => {
  it('drops non-replicable fields and keeps the rest as they are', () => {
    const wire = toWireSchema(sampleSchema);
    expect(Object.keys(wire.Player?.fields ?? {})).toEqual(['x', 'name', 'score', 'alive', 'meta']);
    expect(wire.Player?.fields.x).toBe(sampleSchema.Player.fields.x);
    expect(wire.Player?.connectionBound).toBe(true);
    expect(wire.Ball).toEqual({ fields: { y: { dataType: 'number' } } });
    expect('connectionBound' in (wire.Ball ?? {})).toBe(false);
  });

  it('keeps replicable: true and drops every field of an all-private type', () => {
    const schema: WorldSchema = {
      T: {
        connectionBound: false,
        fields: { a: { dataType: 'number', replicable: true }, b: { dataType: 'json', replicable: false } },
      },
      Hidden: { fields: { s: { dataType: 'string', replicable: false } } },
    };
    expect(toWireSchema(schema)).toEqual({
      T: { connectionBound: false, fields: { a: { dataType: 'number', replicable: true } } },
      Hidden: { fields: {} },
    });
  });

  it('does not modify its input', () => {
    const before = JSON.stringify(sampleSchema);
    toWireSchema(sampleSchema);
    expect(JSON.stringify(sampleSchema)).toBe(before);
  });

  it('produces a schema that validates', () => {
    expect(validateSchema(toWireSchema(sampleSchema)).ok).toBe(true);
  });
});

describe('field helpers', () => {
  const spec = (extra: Partial<FieldSpec>): FieldSpec => ({ dataType: 'number', ...extra });

  it('fieldAccess defaults to server', () => {
    expect(fieldAccess(spec({}))).toBe('server');
    expect(fieldAccess(spec({ accessControl: 'client' }))).toBe('client');
  });

  it('isReplicable defaults to true', () => {
    expect(isReplicable(spec({}))).toBe(true);
    expect(isReplicable(spec({ replicable: false }))).toBe(false);
  });

  it('fieldMaxLength defaults per data type', () => {
    expect(fieldMaxLength({ dataType: 'string' })).toBe(schemaLimits.defaultStringLength);
    expect(fieldMaxLength({ dataType: 'json' })).toBe(schemaLimits.defaultJsonLength);
    expect(fieldMaxLength({ dataType: 'string', maxLength: 7 })).toBe(7);
  });
});
