import { describe, expect, it } from 'vitest';
import { ErrorCode, P3Error } from '@p3/protocol';
import { World, defineWorld, type WorldOptions } from '@p3/engine';

const id = '0190d7a0-0000-7000-8000-00000000000a';

/** A player spawned at a random place once, remembered in a server-only field (the arena demo's pattern). */
function spawnWorld(guarded: boolean) {
  return defineWorld({
    schema: {
      player: {
        connectionBound: true,
        fields: {
          x: { dataType: 'number', min: 0, max: 100 },
          spawned: { dataType: 'boolean', replicable: false },
        },
      },
    },
    tick(ctx) {
      for (const p of ctx.entities('player')) {
        if ((!guarded || ctx.authority) && !p.get<boolean>('spawned')) {
          p.set('x', ctx.random() * 100);
          p.set('spawned', true);
        }
      }
    },
  });
}

function withPlayer(guarded: boolean, options: WorldOptions): World {
  const world = new World(spawnWorld(guarded), { tickRate: 30, ...options });
  world.connect('c1');
  world.submit('c1', { op: 'create', entityId: id, typeName: 'player', data: {} });
  return world;
}

describe('World authority', () => {
  it('[WORLD-17] ctx.authority is true by default and false in a world built with authority: false', () => {
    const seen: boolean[] = [];
    const definition = defineWorld({ schema: {}, tick: (ctx) => void seen.push(ctx.authority) });
    new World(definition).step();
    new World(definition, { authority: false }).step();
    expect(seen).toEqual([true, false]);
  });

  it('[WORLD-17] the authority runs server-only logic; a non-authoritative world skips it under ctx.authority', () => {
    const server = withPlayer(true, {});
    server.step();
    const spawnedAt = server.entity(id)!.get<number>('x');
    expect(server.entity(id)!.get('spawned')).toBe(true);
    for (let i = 0; i < 5; i++) server.step();
    expect(server.entity(id)!.get('x')).toBe(spawnedAt);

    const prediction = withPlayer(true, { authority: false });
    const frames = [prediction.step(), prediction.step(), prediction.step()].map((r) => r.frame);
    expect(frames.flatMap((f) => f.entities).map((e) => e.fields?.x)).toEqual([0]); // created, then never moved
    expect(frames.flatMap((r) => r.events)).toEqual([]);
  });

  it('[WORLD-17] outside authority a read of a non-replicable field throws UNKNOWN_FIELD, and data() leaves it out', () => {
    const prediction = withPlayer(false, { authority: false });
    const { errors, frame } = prediction.step();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(P3Error);
    expect((errors[0] as P3Error).code).toBe(ErrorCode.UnknownField);
    expect((errors[0] as P3Error).message).toMatch(
      /player\.spawned is known only to the server.*ctx\.authority/,
    );
    expect(frame.entities[0]?.fields?.x).toBe(0); // nothing the failed logic would have done
    expect(prediction.entity(id)!.data()).toEqual({ x: 0 });

    const server = withPlayer(false, {});
    expect(server.step().errors).toEqual([]);
    expect(server.entity(id)!.data()).toMatchObject({ spawned: true });
  });
});
