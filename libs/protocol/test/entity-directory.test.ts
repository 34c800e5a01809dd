import { describe, expect, it } from 'vitest';
import { EntityDirectory } from '../src/binary/entity-directory.js';

const uuid = (k: number): string => `0190d7a0-0000-7000-8000-${String(k).padStart(12, '0')}`;

describe('EntityDirectory', () => {
  it('finds every entry by n, entries whose n share a slot of its array of recent ones included', () => {
    const d = new EntityDirectory(10);
    const ns = [1, 2, 1025, 2049, 3, 1026];
    ns.forEach((n, k) => d.define(n, uuid(k), k % 3));
    ns.forEach((n, k) => expect(d.at(n)).toMatchObject({ n, uuid: uuid(k), typeIndex: k % 3 }));
    expect(d.at(4)).toBeUndefined();
    expect(d.at(1024 + 4)).toBeUndefined();
  });

  it('forgets an entry a rolled-back message defined (a later REF of its n is unknown)', () => {
    const d = new EntityDirectory(10);
    d.define(5, uuid(1), 0);
    d.begin();
    d.define(6, uuid(2), 0);
    d.define(5, uuid(3), 1);
    expect(d.at(6)?.uuid).toBe(uuid(2));
    d.rollback();
    expect(d.at(6)).toBeUndefined();
    expect(d.at(5)?.uuid).toBe(uuid(1));
    expect(d.byId(uuid(3))).toBeUndefined();
  });

  it('forgets an entry retainFrames frames after its entity was removed', () => {
    const d = new EntityDirectory(10);
    d.define(7, uuid(7), 0);
    d.advanceTo(20);
    d.retire(uuid(7));
    d.advanceTo(29);
    d.collect();
    expect(d.at(7)?.uuid).toBe(uuid(7));
    d.advanceTo(30);
    d.collect();
    expect(d.at(7)).toBeUndefined();
    expect(d.byId(uuid(7))).toBeUndefined();
  });
});
