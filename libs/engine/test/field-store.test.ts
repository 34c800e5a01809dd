import { describe, expect, it } from 'vitest';
import { EXISTS, FieldStore, UndoLog } from '@p3/engine';

describe('FieldStore writes (arrival order)', () => {
  it('gives a new key an implicit _exists: true at the write version', () => {
    const store = new FieldStore();
    store.write('a/Pos', { x: 1 }, 1);
    expect(store.exists('a/Pos')).toBe(true);
    expect(store.cell('a/Pos', EXISTS)).toEqual({ value: true, version: 1 });
    expect(store.cell('a/Pos', 'x')).toEqual({ value: 1, version: 1 });
  });

  it('keeps per-field versions: later writes bump only the fields they touch', () => {
    const store = new FieldStore();
    store.write('k', { x: 1, y: 1 }, 1);
    store.write('k', { y: 2 }, 2);
    expect(store.cell('k', 'x')?.version).toBe(1);
    expect(store.cell('k', 'y')).toEqual({ value: 2, version: 2 });
    expect(store.version).toBe(2);
  });

  it('lets the later of two writes at the same version win (patches of one message)', () => {
    const store = new FieldStore();
    store.write('k', { x: 1 }, 3);
    store.write('k', { x: 2 }, 3);
    expect(store.get('k', 'x')).toBe(2);
  });

  it('deletes with a tombstone that drops every field', () => {
    const store = new FieldStore();
    store.write('k', { x: 1, y: 2 }, 1);
    store.write('k', { _exists: false }, 2);
    expect(store.exists('k')).toBe(false);
    expect(store.knows('k')).toBe(true);
    expect(store.get('k', 'x')).toBeUndefined();
    expect(store.cell('k', EXISTS)).toEqual({ value: false, version: 2 });
  });

  it('revives a deleted key on a later write, without its old fields', () => {
    const store = new FieldStore();
    store.write('k', { x: 1, y: 2 }, 1);
    store.delete('k', 2);
    store.write('k', { x: 5 }, 3);
    expect(store.exists('k')).toBe(true);
    expect(store.get('k', 'x')).toBe(5);
    expect(store.get('k', 'y')).toBeUndefined();
  });

  it('writeField skips an unchanged primitive so idle entities produce no change', () => {
    const store = new FieldStore();
    store.write('k', { x: 1 }, 1);
    expect(store.writeField('k', 'x', 1, 2)).toBe(false);
    expect(store.cell('k', 'x')?.version).toBe(1);
    expect(store.writeField('k', 'x', 2, 2)).toBe(true);
  });
});

describe('FieldStore merge (last-writer-wins)', () => {
  it('ignores an older write after a newer one', () => {
    const store = new FieldStore();
    store.merge('k', { x: 2 }, 5);
    expect(store.merge('k', { x: 1 }, 4)).toBe(false);
    expect(store.get('k', 'x')).toBe(2);
  });

  it('breaks equal-version ties by value, the same way in both orders', () => {
    const a = new FieldStore();
    a.merge('k', { x: 'a' }, 1);
    a.merge('k', { x: 'b' }, 1);
    const b = new FieldStore();
    b.merge('k', { x: 'b' }, 1);
    b.merge('k', { x: 'a' }, 1);
    expect(a.get('k', 'x')).toBe('b');
    expect(b.get('k', 'x')).toBe('b');
  });

  it('lets a deletion hide writes at or before it, whichever arrives first', () => {
    const first = new FieldStore();
    first.merge('k', { x: 1 }, 3);
    first.merge('k', { _exists: false }, 3);
    const second = new FieldStore();
    second.merge('k', { _exists: false }, 3);
    second.merge('k', { x: 1 }, 3);
    for (const store of [first, second]) {
      expect(store.exists('k')).toBe(false);
      expect(store.get('k', 'x')).toBeUndefined();
    }
  });
});

describe('FieldStore deltas', () => {
  it('answers changesSince with changed fields, their versions and tombstones', () => {
    const store = new FieldStore();
    store.write('a', { x: 1, y: 1 }, 1);
    store.write('b', { x: 1 }, 1);
    store.write('a', { y: 2 }, 2);
    store.delete('b', 3);
    const delta = store.changesSince(1);
    expect(delta.complete).toBe(true);
    if (!delta.complete) return;
    expect(delta.changes).toEqual([
      { key: 'a', cleared: false, fields: { y: 2 }, versions: { y: 2 } },
      { key: 'b', cleared: true, clearedAt: 3, fields: { _exists: false }, versions: { _exists: 3 } },
    ]);
  });

  it('marks a key deleted and re-created after the version as cleared', () => {
    const store = new FieldStore();
    store.write('k', { x: 1, y: 1 }, 1);
    const old = FieldStore.fromSnapshot(store.snapshot());
    store.delete('k', 2);
    store.write('k', { x: 3 }, 3);
    const delta = store.changesSince(1);
    if (!delta.complete) throw new Error('expected a complete delta');
    old.applyChanges(delta.changes, delta.version);
    expect(old.snapshot()).toEqual(store.snapshot());
  });

  it('refuses a delta older than pruned tombstones', () => {
    const store = new FieldStore();
    store.write('k', { x: 1 }, 1);
    store.delete('k', 2);
    store.write('j', { x: 1 }, 5);
    expect(store.pruneTombstones(4)).toBe(1);
    expect(store.knows('k')).toBe(false);
    expect(store.changesSince(3)).toEqual({ complete: false, version: 5, horizon: 4 });
    expect(store.changesSince(4).complete).toBe(true);
  });

  it('round-trips snapshots, including tombstones and the horizon', () => {
    const store = new FieldStore();
    store.write('a', { x: 1, o: { deep: [1, 2] } }, 1);
    store.delete('b', 2);
    store.pruneTombstones(1);
    const copy = FieldStore.fromSnapshot(JSON.parse(JSON.stringify(store.snapshot())));
    expect(copy.snapshot()).toEqual(store.snapshot());
    expect(copy.horizon).toBe(1);
  });

  it('takes keys of a foreign snapshot without _exists as existing', () => {
    const store = FieldStore.fromSnapshot({
      version: 4,
      horizon: 0,
      entries: { k: { fields: { x: 1 }, versions: { x: 4 } } },
    });
    expect(store.exists('k')).toBe(true);
  });
});

describe('FieldStore undo', () => {
  it('rolls back a recorded session exactly', () => {
    const store = new FieldStore();
    store.write('a', { x: 1 }, 1);
    store.write('b', { y: 1 }, 1);
    const before = store.snapshot();
    const log = new UndoLog();
    store.record(log);
    store.write('a', { x: 2 }, 2);
    store.delete('b', 2);
    store.write('c', { z: 1 }, 2);
    let reverted = false;
    store.recordRevert(() => (reverted = true), undefined);
    store.stopRecording();
    store.rollback(log);
    expect(store.snapshot()).toEqual(before);
    expect(reverted).toBe(true);
    expect(store.knows('c')).toBe(false);
  });
});

describe('FieldStore with hostile names', () => {
  it('keeps fields named like Object.prototype members and __proto__ as plain data', () => {
    const store = FieldStore.fromSnapshot({
      version: 3,
      horizon: 0,
      entries: { k: { fields: { toString: 1, valueOf: 2 }, versions: {} } },
    });
    expect(store.cell('k', 'toString')).toEqual({ value: 1, version: 3 });
    expect(store.lastModified('k')).toBe(3);
    store.write('j', JSON.parse('{"__proto__": {"polluted": true}}'), 4);
    const snapshot = store.snapshot();
    expect(Object.keys(snapshot.entries.j!.fields)).toContain('__proto__');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const copy = FieldStore.fromSnapshot(JSON.parse(JSON.stringify(snapshot)));
    expect(copy.get('j', '__proto__')).toEqual({ polluted: true });
  });
});
