import { describe, expect, it } from 'vitest';
import { ErrorCode, P3Error } from '@p3/protocol';
import { World, defineWorld } from '@p3/engine';

// Seed 004: a `seed` field is set at creation and read-only afterwards, for server logic too ([WORLD-3] covers
// clients; authority.ts promises the same of the server).

const ids = { a: '0190d7a0-0000-7000-8000-00000000000a' };

const schema = {
  player: {
    fields: {
      x: { dataType: 'number', min: 0, max: 100, accessControl: 'client' },
      color: { dataType: 'string', accessControl: 'seed', default: 'red' },
    },
  },
} as const;

describe('seed fields and server logic', () => {
  it('[WORLD-16] server logic cannot overwrite a seed field after creation: tick `set` and `updateEntity` refuse with SEED_FIELD', () => {
    let attempt: 'none' | 'tick' | 'create-and-set' = 'none';
    const world = new World(
      defineWorld({
        schema,
        tick(ctx) {
          if (attempt === 'tick') for (const p of ctx.entities('player')) p.set('color', 'green');
          if (attempt === 'create-and-set') ctx.create('player', { color: 'gold' }).set('color', 'black');
        },
      }),
    );
    world.connect('c1');
    world.submit('c1', { op: 'create', entityId: ids.a, typeName: 'player', data: { color: 'blue' } });
    world.step();

    // Outside a tick: refused at once, with a typed error.
    const outside = (() => {
      try {
        world.updateEntity(ids.a, { color: 'green' });
      } catch (error) {
        return error;
      }
      return undefined;
    })();
    expect(outside).toBeInstanceOf(P3Error);
    expect((outside as P3Error).code).toBe(ErrorCode.SeedField);
    expect(() => world.updateEntity(ids.a, { x: 5 })).not.toThrow();

    // Inside a tick: the write is refused (reported as the tick's error), the value stays.
    attempt = 'tick';
    const result = world.step();
    expect(result.errors.map((e) => (e as P3Error).code)).toEqual([ErrorCode.SeedField]);
    expect(world.entity(ids.a)?.get('color')).toBe('blue');
    expect(world.entity(ids.a)?.get('x')).toBe(5);
    expect(result.frame.entities.find((e) => e.id === ids.a)?.fields?.color).toBeUndefined();

    // Created by logic: seeded at creation, read-only right after it, also in the same tick.
    attempt = 'create-and-set';
    const created = world.step();
    expect(created.errors.map((e) => (e as P3Error).code)).toEqual([ErrorCode.SeedField]);
    const made = world.entities('player').find((p) => p.id !== ids.a);
    expect(made?.get('color')).toBe('gold');

    // Server-side creation may seed it; server-side updates may not.
    attempt = 'none';
    world.createEntity('player', { color: 'white' }, { owner: null });
    world.step();
    expect(world.entities('player').some((p) => p.get('color') === 'white')).toBe(true);
    expect(() => world.updateEntity(made!.id, { color: 'pink' })).toThrow(/set at creation only/);
  });
});
