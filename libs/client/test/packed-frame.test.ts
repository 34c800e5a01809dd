import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { capped } from '@p3/test-support/property';
import type { EntityUpdate, Frame, JsonValue } from '@p3/protocol';
import { PackedFrame, ShapeCache, UpdateHistory } from '../src/packed-frame.js';

const ids = ['0190d7a0-0000-7000-8000-0000000000aa', '0190d7a0-0000-7000-8000-0000000000bb'];

const frame = (id: number, entities: EntityUpdate[], removed: string[] = []): Frame => ({
  id,
  type: 'verified',
  time: id * 50,
  events: [],
  entities,
  removed,
});

/** Frame `id` with `count` moves of the two entities (x the frame id, y the update's index + `offset`). */
const movingFrame = (id: number, count: number, offset: number): Frame =>
  frame(
    id,
    Array.from({ length: count }, (_, k) => ({
      id: ids[k % 2]!,
      typeName: 'avatar',
      fields: { x: id, y: k + offset },
    })),
  );

/** Packs frames in order, keeping the last `keep` held (as a replica keeps its window). */
class Packer {
  readonly shapes = new ShapeCache();
  readonly history = new UpdateHistory();
  readonly held: PackedFrame[] = [];
  releases = 0;
  constructor(private readonly keep: number) {}

  pack(f: Frame): PackedFrame {
    const packed = PackedFrame.pack(f, this.shapes, this.history, () => {
      this.releases++;
      const kept = this.held.slice(-this.keep);
      const first = kept[0];
      if (first === undefined)
        this.history.release(this.history.ids.head, this.history.numbers.head, this.history.others.head);
      else this.history.release(first.update, first.number, first.other);
    });
    this.held.push(packed);
    return packed;
  }
}

const value: fc.Arbitrary<JsonValue> = fc.oneof(
  fc.double(),
  fc.integer(),
  fc.constantFrom(-0, 0.1, 1e300),
  fc.string({ maxLength: 4 }),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer(), { maxLength: 2 }),
  fc.record({ a: fc.integer() }),
);
const update: fc.Arbitrary<EntityUpdate> = fc
  .record({
    id: fc.constantFrom(...ids),
    typeName: fc.constantFrom('avatar', 'ghost'),
    created: fc.option(fc.boolean(), { nil: undefined }),
    owner: fc.option(fc.constantFrom('c1', null), { nil: undefined }),
    fields: fc.option(fc.dictionary(fc.constantFrom('x', 'y', 'name', '0', 'z'), value, { maxKeys: 4 }), {
      nil: undefined,
    }),
    input: fc.option(fc.record({ up: fc.boolean() }), { nil: undefined }),
  })
  .map((u) => {
    const out: { -readonly [K in keyof EntityUpdate]: EntityUpdate[K] } = { id: u.id, typeName: u.typeName };
    if (u.created !== undefined) out.created = u.created;
    if (u.owner !== undefined) out.owner = u.owner;
    // As a decoder makes them: plain objects (fast-check also makes some without a prototype).
    if (u.fields !== undefined) out.fields = { ...u.fields };
    if (u.input !== undefined) out.input = u.input;
    return out;
  });

describe('PackedFrame', () => {
  it('[CLIENT-36] a packed frame reads back as it came: every update, field and value, while it is held (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(update, { maxLength: 12 }), { minLength: 1, maxLength: 60 }),
        fc.integer({ min: 1, max: 8 }),
        (frames, keep) => {
          const packer = new Packer(keep);
          const sent: Frame[] = [];
          frames.forEach((entities, i) => {
            const f = frame(i, entities);
            sent.push(f);
            packer.pack(f);
            // Every frame still held reads back as sent, one update at a time and all at once.
            const held = packer.held.slice(-keep);
            for (const p of held) {
              const original = sent[p.id]!;
              expect(p.size).toBe(original.entities.length);
              for (let k = 0; k < p.size; k++) {
                expect(p.idAt(k)).toBe(original.entities[k]!.id);
                expect(p.updateAt(k)).toStrictEqual(original.entities[k]);
              }
            }
          });
          for (const p of packer.held.slice(-keep)) expect(p.entities).toStrictEqual(sent[p.id]!.entities);
        },
      ),
      capped(),
    );
  });

  it('[CLIENT-36] keeps one object per frame: updates of a known shape share it, creations stay as they came', () => {
    const packer = new Packer(4);
    const create: EntityUpdate = {
      id: ids[0]!,
      typeName: 'avatar',
      created: true,
      owner: 'c1',
      fields: { x: 1 },
    };
    const move = (x: number): EntityUpdate => ({ id: ids[1]!, typeName: 'avatar', fields: { x, y: x / 3 } });
    const a = packer.pack(frame(1, [create, move(1.5)]));
    const b = packer.pack(frame(2, [move(2.5), move(-0)]));
    expect(a.shapeAt(0)).toBeUndefined();
    expect(a.shapeAt(1)).toBeDefined();
    expect(b.shapeAt(0)).toBe(a.shapeAt(1));
    expect(b.shapeAt(1)).toBe(a.shapeAt(1));
    expect(a.updateAt(0)).toBe(create);
    expect(Object.is(b.updateAt(1).fields!.x, -0)).toBe(true);
    expect(b.entities).toStrictEqual([move(2.5), move(-0)]);
    // Unpacked once, then the same array.
    expect(b.entities).toBe(b.entities);
  });

  it('[CLIENT-36] a field set that is a prefix or an extension of a known shape gets a shape of its own', () => {
    const packer = new Packer(2);
    const update = (id: string, fields: Record<string, JsonValue>): EntityUpdate => ({
      id,
      typeName: 'avatar',
      fields,
    });
    const sent = [
      update(ids[0]!, { x: 1, y: 2 }),
      update(ids[1]!, { x: 3 }),
      update(ids[0]!, { x: 5, y: 6, z: 7 }),
      update(ids[1]!, { x: 8, y: 9 }),
    ];
    const p = packer.pack(frame(1, sent));
    expect(p.entities).toStrictEqual(sent);
    expect(new Set(sent.map((_, k) => p.shapeAt(k))).size).toBe(3);
  });

  it('[CLIENT-36] a frame larger than the rings grows them: every value reads back', () => {
    const packer = new Packer(2);
    const sent = Array.from({ length: 300 }, (_, k): EntityUpdate => ({
      id: ids[k % 2]!,
      typeName: 'avatar',
      fields: { x: k, y: k + 0.5, name: `n${k}` },
    }));
    packer.pack(frame(1, sent.slice(0, 10)));
    const big = packer.pack(frame(2, sent));
    expect(big.entities).toStrictEqual(sent);
    expect(packer.history.numbers.capacity).toBeGreaterThanOrEqual(620);
  });

  it('[CLIENT-36] releases once per many frames: a release leaves room for as much again as is held', () => {
    const packer = new Packer(3);
    const moves = (id: number): Frame => movingFrame(id, 20, 0);
    for (let i = 0; i < 200; i++) packer.pack(moves(i));
    expect(packer.releases).toBeGreaterThan(0);
    expect(packer.releases).toBeLessThan(40);
    expect(packer.held.at(-3)!.entities).toStrictEqual(moves(197).entities);
  });

  it('[CLIENT-36] a field named __proto__ (an own property, as JSON makes it) round-trips instead of setting a prototype', () => {
    const fields = JSON.parse('{"__proto__": {"polluted": 1}, "x": 2}') as Record<string, JsonValue>;
    const packer = new Packer(2);
    const p = packer.pack(frame(1, [{ id: ids[0]!, typeName: 'avatar', fields }]));
    const back = p.updateAt(0).fields!;
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
    expect(Object.keys(back)).toEqual(['__proto__', 'x']);
  });

  it('[CLIENT-36] a type with ever new field sets: past 32 shapes its updates are kept as they came', () => {
    const packer = new Packer(100);
    const sent = Array.from({ length: 40 }, (_, i) =>
      frame(i, [{ id: ids[0]!, typeName: 'avatar', fields: { [`f${i}`]: i + 0.5 } }]),
    );
    const packed = sent.map((f) => packer.pack(f));
    expect(packed[31]!.shapeAt(0)).toBeDefined();
    expect(packed[32]!.shapeAt(0)).toBeUndefined();
    packed.forEach((p, i) => expect(p.entities).toStrictEqual(sent[i]!.entities));
  });

  it('[CLIENT-36] the history grows to what is held, not to what was ever packed; a released frame refuses to read', () => {
    const packer = new Packer(3);
    const many = (id: number): Frame => movingFrame(id, 10, 0.25);
    const first = packer.pack(many(0));
    for (let i = 1; i < 2000; i++) packer.pack(many(i));
    expect(packer.history.ids.head).toBe(20_000);
    expect(packer.history.ids.capacity).toBeLessThanOrEqual(128);
    expect(packer.history.numbers.capacity).toBeLessThanOrEqual(256);
    expect(packer.held.at(-3)!.entities).toStrictEqual(many(1997).entities);
    expect(() => first.entities).toThrow(/no longer held/);
  });
});
