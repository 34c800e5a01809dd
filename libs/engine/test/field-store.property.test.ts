import fc from 'fast-check';
import { capped } from '@p3/test-support/property';
import { describe, expect, it } from 'vitest';
import { FieldStore, UndoLog } from '@p3/engine';

interface Patch {
  key: string;
  fields: Record<string, number | string | boolean>;
  version: number;
}

const keyArb = fc.constantFrom('a', 'b', 'c');
const fieldArb = fc.constantFrom('x', 'y', 'z');
const valueArb = fc.oneof(fc.integer({ min: -3, max: 3 }), fc.constantFrom('p', 'q'), fc.boolean());
const patchArb: fc.Arbitrary<Patch> = fc.record({
  key: keyArb,
  version: fc.integer({ min: 1, max: 12 }),
  fields: fc.oneof(
    { weight: 4, arbitrary: fc.dictionary(fieldArb, valueArb, { minKeys: 1, maxKeys: 3 }) },
    { weight: 1, arbitrary: fc.constant({ _exists: false } as Record<string, boolean>) },
  ),
});

/** Observable state: existing keys and their visible fields (versions aside). */
function visible(store: FieldStore): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const key of [...store.keys()].sort()) {
    const fields = store.fields(key);
    if (!fields) continue;
    out[key] = Object.fromEntries(
      [...fields].map(([f, c]) => [f, c.value]).sort(([a], [b]) => String(a).localeCompare(String(b))),
    );
  }
  return out;
}

describe('FieldStore properties', () => {
  it('merging the same set of patches in any order converges', () => {
    fc.assert(
      fc.property(
        fc
          .array(patchArb, { maxLength: 25 })
          .chain((patches) =>
            fc.tuple(
              fc.constant(patches),
              fc.shuffledSubarray(patches, { minLength: patches.length, maxLength: patches.length }),
            ),
          ),
        ([patches, shuffled]) => {
          const a = new FieldStore();
          for (const p of patches) a.merge(p.key, p.fields, p.version);
          const b = new FieldStore();
          for (const p of shuffled) b.merge(p.key, p.fields, p.version);
          expect(visible(b)).toEqual(visible(a));
          for (const key of a.keys()) {
            for (const [field, cell] of a.fields(key) ?? []) expect(b.cell(key, field)).toEqual(cell);
          }
        },
      ),
      capped({ numRuns: 500 }),
    );
  });

  it('merging is idempotent: applying a patch twice changes nothing', () => {
    fc.assert(
      fc.property(fc.array(patchArb, { maxLength: 20 }), (patches) => {
        const once = new FieldStore();
        const twice = new FieldStore();
        for (const p of patches) {
          once.merge(p.key, p.fields, p.version);
          twice.merge(p.key, p.fields, p.version);
          twice.merge(p.key, p.fields, p.version);
        }
        expect(visible(twice)).toEqual(visible(once));
      }),
      capped(),
    );
  });

  it('changesSince(V) applied to a snapshot at V equals the current state (arrival-order writes)', () => {
    fc.assert(
      fc.property(fc.array(patchArb, { maxLength: 30 }), fc.nat(30), (patches, cut) => {
        const store = new FieldStore();
        let atV: FieldStore | undefined;
        let version = 0;
        patches.forEach((p, i) => {
          if (i === cut) atV = FieldStore.fromSnapshot(store.snapshot());
          store.write(p.key, p.fields, ++version);
        });
        atV ??= FieldStore.fromSnapshot(store.snapshot());
        const delta = store.changesSince(atV.version);
        if (!delta.complete) throw new Error('no pruning here: delta must be complete');
        atV.applyChanges(delta.changes, delta.version);
        expect(visible(atV)).toEqual(visible(store));
      }),
      capped({ numRuns: 500 }),
    );
  });

  it('changesSince(V) applied to a snapshot at V equals the current state (merged patches)', () => {
    // A snapshot "at V" holds every change versioned <= V; later changes (any order) carry versions > V.
    fc.assert(
      fc.property(fc.array(patchArb, { maxLength: 30 }), fc.integer({ min: 0, max: 12 }), (patches, v) => {
        const store = new FieldStore();
        for (const p of patches) if (p.version <= v) store.merge(p.key, p.fields, p.version);
        const atV = FieldStore.fromSnapshot(store.snapshot());
        for (const p of patches) if (p.version > v) store.merge(p.key, p.fields, p.version);
        const delta = store.changesSince(v);
        if (!delta.complete) throw new Error('no pruning here: delta must be complete');
        atV.applyChanges(delta.changes, delta.version);
        expect(visible(atV)).toEqual(visible(store));
      }),
      capped({ numRuns: 500 }),
    );
  });

  it('a recorded session rolls back to the exact previous snapshot', () => {
    fc.assert(
      fc.property(
        fc.array(patchArb, { maxLength: 15 }),
        fc.array(patchArb, { maxLength: 15 }),
        (before, during) => {
          const store = new FieldStore();
          let version = 0;
          for (const p of before) store.write(p.key, p.fields, ++version);
          const snapshot = store.snapshot();
          const log = new UndoLog();
          store.record(log);
          for (const p of during) store.write(p.key, p.fields, ++version);
          store.stopRecording();
          store.rollback(log);
          expect(store.snapshot()).toEqual(snapshot);
        },
      ),
      capped({ numRuns: 300 }),
    );
  });
});
