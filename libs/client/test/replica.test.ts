import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { capped } from '@p3/test-support/property';
import type { EntityUpdate, Frame, FrameType } from '@p3/protocol';
import { Replica } from '../src/replica.js';
import { PackedFrame } from '../src/packed-frame.js';
import { applyChanges, diffWorlds, emptyWorld } from '../src/entity-state.js';

const A = '0190d7a0-0000-7000-8000-0000000000aa';
const B = '0190d7a0-0000-7000-8000-0000000000bb';

const frame = (
  id: number,
  entities: EntityUpdate[] = [],
  removed: string[] = [],
  type: FrameType = 'verified',
): Frame => ({
  id,
  type,
  time: id * 50,
  events: [],
  entities,
  removed,
});
const setX = (id: string, x: number): EntityUpdate => ({ id, typeName: 'avatar', fields: { x } });
const create = (id: string, x: number): EntityUpdate => ({
  id,
  typeName: 'avatar',
  created: true,
  owner: 'c1',
  fields: { x },
});

describe('Replica', () => {
  it('[CLIENT-3] applies frames in order, ignores stale ones and reports gaps', () => {
    const r = new Replica(5);
    expect(r.apply(frame(1)).kind).toBe('gap');
    r.bootstrap(10, 500, [create(A, 0)], [], true);
    expect(r.apply(frame(11, [setX(A, 1)])).kind).toBe('applied');
    expect(r.apply(frame(11, [setX(A, 9)])).kind).toBe('stale');
    expect(r.apply(frame(13)).kind).toBe('gap');
    expect(r.frame).toBe(11);
    expect(r.world.get(A)?.fields.x).toBe(1);
    expect(r.get(10)?.world.get(A)?.fields.x).toBe(0);
  });

  it('[CLIENT-20] holds the frames a room skipped: after `prev` or an idle heartbeat; a later `prev` is a gap', () => {
    const r = new Replica(5);
    r.setTickInterval(50);
    r.bootstrap(10, 500, [create(A, 0)], [], true);
    expect(r.skip(10, 30)).toBe('advanced');
    expect(r.frame).toBe(30);
    // Only what the history keeps is held: the last `capacity` frames before the latest, empty, on the same world.
    expect(r.frames().map((h) => h.frame.id)).toEqual([25, 26, 27, 28, 29, 30]);
    expect(r.get(30)).toMatchObject({ frame: { id: 30, type: 'verified', time: 1500, entities: [] } });
    expect(r.get(30)?.world).toBe(r.get(25)?.world);
    expect(r.skip(20, 25)).toBe('stale');
    expect(r.skip(31, 40)).toBe('gap');
    expect(r.apply(frame(36, [setX(A, 5)]), 32).kind).toBe('gap');
    expect(r.apply(frame(36, [setX(A, 5)]), 30).kind).toBe('applied');
    expect(r.frames().map((h) => h.frame.id)).toEqual([31, 32, 33, 34, 35, 36]);
    expect(r.get(35)?.world.get(A)?.fields.x).toBe(0);
    expect(r.world.get(A)?.fields.x).toBe(5);
    // A correction of a skipped frame rewinds like any other: world at K-1, corrected K, the frames after it.
    expect(r.apply(frame(34, [setX(A, 2)], [], 'corrected')).kind).toBe('corrected');
    expect(r.get(35)?.world.get(A)?.fields.x).toBe(2);
    expect(r.world.get(A)?.fields.x).toBe(5);
    // A frame whose `prev` is before the latest applies too (a welcome or catch-up brought the replica further).
    expect(r.apply(frame(40), 33).kind).toBe('applied');
    expect(r.frame).toBe(40);
  });

  it('[CLIENT-5] keeps the last `capacity` frames before the latest', () => {
    const r = new Replica(3);
    r.bootstrap(0, 0, [], [], true);
    for (let id = 1; id <= 10; id++) r.apply(frame(id));
    expect(r.frames().map((h) => h.frame.id)).toEqual([7, 8, 9, 10]);
  });

  it('[CLIENT-36] packs every held frame but the latest, and keeps what unread worlds and corrections need', () => {
    const ids = Array.from(
      { length: 10 },
      (_, k) => `0190d7a0-0000-7000-8000-0000000001${String(k).padStart(2, '0')}`,
    );
    const moves = (id: number, x: number): Frame =>
      frame(
        id,
        ids.map((e, k) => ({ id: e, typeName: 'avatar', fields: { x: x + k / 4, name: `n${x}` } })),
      );
    const expected = (x: number) => ids.map((e, k) => ({ id: e, fields: { x: x + k / 4, name: `n${x}` } }));
    const worldOf = (r: Replica, id: number) =>
      [...r.get(id)!.world.values()].map((e) => ({ id: e.id, fields: { ...e.fields } }));
    const r = new Replica(4);
    r.bootstrap(
      0,
      0,
      ids.map((e) => ({ id: e, typeName: 'avatar', created: true, fields: {} })),
      [],
      true,
    );
    // The frame's x, by frame id (a correction changes it).
    const xs = new Map<number, number>();
    for (let step = 1; step <= 400; step++) {
      const id = r.frame + 1;
      xs.set(id, step);
      expect(r.apply(moves(id, step)).kind).toBe('applied');
      if (step % 3 === 0 && step > 6) {
        // A correction three frames back: the frames after it are held again (their updates packed anew).
        const back = r.frame - 3;
        xs.set(back, -step);
        expect(r.apply({ ...moves(back, -step), type: 'corrected' }).kind).toBe('corrected');
      }
      if (step % 7 === 0 && step > 7) {
        // The oldest held world, never read before: built from the packed updates of the frames before it.
        const oldest = r.frame - 4;
        expect(worldOf(r, oldest)).toEqual(expected(xs.get(oldest)!));
      }
      for (let id = Math.max(1, r.frame - 4); id <= r.frame; id++) {
        const held = r.get(id)!.frame;
        expect(held instanceof PackedFrame).toBe(id !== r.frame);
        expect(held.entities).toEqual(moves(id, xs.get(id)!).entities);
      }
    }
  });

  it('[CLIENT-34] builds no world nobody reads, and keeps the frames an unread world needs bounded', () => {
    const r = new Replica(5);
    r.bootstrap(0, 0, [create(A, 0), create(B, 0)], [], true);
    for (let id = 1; id <= 200; id++) {
      expect(r.apply(frame(id, [setX(id % 2 === 0 ? A : B, id)])).kind).toBe('applied');
      expect(r.unbuiltFrames).toBeGreaterThan(0);
      expect(r.unbuiltFrames).toBeLessThanOrEqual(3 * 5);
      expect(r.typeOf(A)).toBe('avatar');
    }
    expect(r.world.get(A)?.fields).toEqual({ x: 200 });
    expect(r.world.get(B)?.fields).toEqual({ x: 199 });
    expect(r.unbuiltFrames).toBe(0);
    expect(r.get(197)?.world.get(B)?.fields).toEqual({ x: 197 });
  });

  it('[CLIENT-4] rebuilds the history from a corrected frame: world at K-1 + corrected K + the frames held after it', () => {
    const r = new Replica(10);
    r.bootstrap(0, 0, [create(A, 0), create(B, 0)], [], true);
    r.apply(frame(1, [setX(A, 1)]));
    r.apply(frame(2, [setX(B, 5)]));
    r.apply(frame(3, [setX(A, 2)]));
    const outcome = r.apply(frame(2, [setX(B, 7), setX(A, 40)], [], 'corrected'));
    expect(outcome.kind).toBe('corrected');
    expect(r.frame).toBe(3);
    expect(r.get(2)?.world.get(B)?.fields.x).toBe(7);
    expect(r.get(2)?.frame.type).toBe('corrected');
    expect(r.world.get(B)?.fields.x).toBe(7);
    // Frame 3 re-applied on top: its own change wins where it wrote.
    expect(r.world.get(A)?.fields.x).toBe(2);
    expect(r.get(1)?.world.get(B)?.fields.x).toBe(0);
  });

  it('[CLIENT-5] after a delta bootstrap far ahead, frames before the window are no longer held', () => {
    const r = new Replica(3);
    r.bootstrap(0, 0, [create(A, 0)], [], true);
    for (let id = 1; id <= 10; id++) r.apply(frame(id, [setX(A, id)]));
    r.bootstrap(30, 30 * 50, [setX(A, 30)], [], false, 10);
    expect(r.frames().map((h) => h.frame.id)).toEqual([30]);
    for (let id = 0; id < 30; id++) expect(r.get(id)).toBeUndefined();
    expect(r.get(30)?.world.get(A)?.fields).toEqual({ x: 30 });
  });

  it('[CLIENT-4] asks for a resync when a correction is older than the held history', () => {
    const r = new Replica(2);
    r.bootstrap(0, 0, [], [], true);
    for (let id = 1; id <= 6; id++) r.apply(frame(id));
    expect(r.apply(frame(2, [], [], 'corrected'))).toEqual({ kind: 'unrewindable', from: 1 });
  });

  it('[CLIENT-1] applies a delta bootstrap on top and forgets held frames after `since`', () => {
    const r = new Replica(10);
    r.bootstrap(0, 0, [create(A, 0)], [], true);
    r.apply(frame(1, [setX(A, 1)]));
    r.apply(frame(2, [setX(A, 2)]));
    r.bootstrap(5, 250, [create(B, 3)], [A], false, 1);
    expect(r.frame).toBe(5);
    expect([...r.world.keys()]).toEqual([B]);
    expect(r.frames().map((h) => h.frame.id)).toEqual([0, 1, 5]);
  });

  it('diffWorlds gives updates that turn one world into the other (property)', () => {
    const ids = [A, B, '0190d7a0-0000-7000-8000-0000000000cc'];
    const update = fc.record({
      id: fc.constantFrom(...ids),
      created: fc.boolean(),
      x: fc.integer({ min: 0, max: 5 }),
      up: fc.option(fc.boolean(), { nil: undefined }),
    });
    const step = fc.record({ updates: fc.array(update, { maxLength: 4 }), removed: fc.subarray(ids) });
    fc.assert(
      fc.property(fc.array(step, { minLength: 2, maxLength: 6 }), (steps) => {
        const worlds = [emptyWorld];
        for (const s of steps) {
          const updates = s.updates.map((u) => ({
            id: u.id,
            typeName: 'avatar',
            ...(u.created ? { created: true, owner: null } : {}),
            fields: { x: u.x },
            ...(u.up === undefined ? {} : { input: { up: u.up } }),
          }));
          worlds.push(applyChanges(worlds.at(-1)!, updates, s.removed));
        }
        const [a, b] = [worlds[1]!, worlds.at(-1)!];
        const diff = diffWorlds(a, b);
        const rebuilt = applyChanges(a, diff.entities, diff.removed);
        expect(Object.fromEntries(rebuilt)).toEqual(Object.fromEntries(b));
      }),
      capped(),
    );
  });
  it("[CLIENT-34] [CLIENT-36] a held frame's world is its frames applied one by one, whichever worlds are read and when, and its packed updates read back as they came (property)", () => {
    const ids = [A, B, '0190d7a0-0000-7000-8000-0000000000cc'];
    const update = fc.record({
      id: fc.constantFrom(...ids),
      typeName: fc.constantFrom('avatar', 'ghost'),
      created: fc.boolean(),
      owner: fc.option(fc.constantFrom('c1', 'c2', null), { nil: undefined }),
      x: fc.option(
        fc.oneof(fc.integer({ min: 0, max: 5 }), fc.double({ noNaN: true }), fc.string({ maxLength: 2 })),
        {
          nil: undefined,
        },
      ),
      y: fc.option(fc.integer({ min: 0, max: 5 }), { nil: undefined }),
      up: fc.option(fc.boolean(), { nil: undefined }),
    });
    const step = fc.record({
      updates: fc.array(update, { maxLength: 4 }),
      removed: fc.subarray(ids),
      /** Corrects the frame this many frames back instead of applying a new one (0: a new frame). */
      back: fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 1, max: 6 })),
      /** Reads the world of the frame this many back after the step (undefined: reads nothing). */
      read: fc.option(fc.integer({ min: 0, max: 7 }), { nil: undefined }),
    });
    type Model = Map<string, { typeName: string; owner: string | null; fields: object; input: object }>;
    const modelApply = (world: Model, updates: EntityUpdate[], removed: string[]): Model => {
      const next: Model = new Map(world);
      for (const u of updates) {
        const e = next.get(u.id);
        next.set(
          u.id,
          u.created === true || e === undefined
            ? { typeName: u.typeName, owner: u.owner ?? null, fields: { ...u.fields }, input: { ...u.input } }
            : {
                typeName: u.typeName,
                owner: u.owner === undefined ? e.owner : u.owner,
                fields: { ...e.fields, ...u.fields },
                input: u.input === undefined ? e.input : { ...u.input },
              },
        );
      }
      for (const id of removed) next.delete(id);
      return next;
    };
    const plain = (
      world: ReadonlyMap<string, { typeName: string; owner: string | null; fields: object; input: object }>,
    ) =>
      Object.fromEntries(
        [...world].map(([id, e]) => [
          id,
          { typeName: e.typeName, owner: e.owner, fields: { ...e.fields }, input: { ...e.input } },
        ]),
      );
    fc.assert(
      fc.property(
        fc.array(step, { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 1, max: 6 }),
        (steps, capacity) => {
          const r = new Replica(capacity);
          r.bootstrap(0, 0, [], [], true);
          const model = new Map<number, Model>([[0, new Map()]]);
          const sent = new Map<number, Frame>();
          for (const s of steps) {
            const updates: EntityUpdate[] = s.updates.map((u) => ({
              id: u.id,
              typeName: u.typeName,
              ...(u.created ? { created: true } : {}),
              ...(u.owner === undefined ? {} : { owner: u.owner }),
              ...(u.x === undefined && u.y === undefined
                ? {}
                : {
                    fields: {
                      ...(u.x === undefined ? {} : { x: u.x }),
                      ...(u.y === undefined ? {} : { y: u.y }),
                    },
                  }),
              ...(u.up === undefined ? {} : { input: { up: u.up } }),
            }));
            const id = s.back === 0 ? r.frame + 1 : r.frame - s.back + 1;
            if (id <= 0) continue;
            const f = frame(id, updates, s.removed, s.back === 0 ? 'verified' : 'corrected');
            const outcome = r.apply(f);
            if (outcome.kind === 'unrewindable') continue;
            sent.set(id, f);
            model.set(id, modelApply(model.get(id - 1)!, updates, s.removed));
            for (let later = id + 1; later <= r.frame; later++) {
              const again = sent.get(later)!;
              model.set(later, modelApply(model.get(later - 1)!, [...again.entities], [...again.removed]));
            }
            if (s.read !== undefined) {
              const held = r.get(r.frame - s.read);
              if (held !== undefined) expect(plain(held.world)).toEqual(plain(model.get(held.frame.id)!));
            }
          }
          for (const held of r.frames()) {
            expect(plain(held.world)).toEqual(plain(model.get(held.frame.id)!));
            // Held frames are packed once a later one is held ([CLIENT-36]): they read back as they came.
            expect(held.frame.entities).toEqual(sent.get(held.frame.id)?.entities ?? []);
          }
          const latest = model.get(r.frame)!;
          for (const id of ids) expect(r.typeOf(id)).toBe(latest.get(id)?.typeName);
        },
      ),
      capped(),
    );
  });
});
