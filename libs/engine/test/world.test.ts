import { describe, expect, it } from 'vitest';
import { ErrorCode, FrameType, P3Error, type Op } from '@p3/protocol';
import { World, defineWorld, uuidv7Time } from '@p3/engine';
import { arena, ids, schema } from './world-fixtures.js';

function worldWithPlayer(options: { bufferFrame?: number } = {}): World {
  const world = new World(arena, { tickRate: 30, bufferFrame: options.bufferFrame ?? 10 });
  world.connect('c1');
  expect(world.submit('c1', { op: 'create', entityId: ids.a, typeName: 'player', data: { x: 10 } }).ok).toBe(
    true,
  );
  world.step();
  return world;
}

function errorCode(result: { ok: boolean; error?: P3Error }): string | undefined {
  return result.ok ? undefined : result.error?.code;
}

describe('World schema', () => {
  it('[WORLD-1] refuses a bad schema at definition', () => {
    expect(() =>
      defineWorld({ schema: { p: { fields: { x: { dataType: 'number', min: 5, max: 1 } } } } }),
    ).toThrow(P3Error);
    try {
      defineWorld({ schema: { p: { fields: { id: { dataType: 'number' } } } } });
    } catch (e) {
      expect((e as P3Error).code).toBe(ErrorCode.InvalidSchema);
    }
  });
});

describe('World authority', () => {
  it('[WORLD-2] lets a client create an entity it owns, with client and seed fields and defaults', () => {
    const world = new World(arena);
    world.connect('c1');
    world.submit('c1', { op: 'create', entityId: ids.a, typeName: 'player', data: { x: 1, color: 'blue' } });
    const { frame } = world.step();
    expect(frame.entities).toEqual([
      {
        id: ids.a,
        typeName: 'player',
        created: true,
        owner: 'c1',
        fields: { x: 1, y: 0, color: 'blue', hp: 100 },
      },
    ]);
    expect(world.entitiesOf('c1')).toEqual([ids.a]);
  });

  it('[WORLD-2] refuses server fields at creation and duplicate ids', () => {
    const world = worldWithPlayer();
    expect(
      errorCode(world.submit('c1', { op: 'create', entityId: ids.b, typeName: 'player', data: { hp: 5 } })),
    ).toBe(ErrorCode.AccessDenied);
    expect(
      errorCode(world.submit('c1', { op: 'create', entityId: ids.a, typeName: 'player', data: {} })),
    ).toBe(ErrorCode.EntityExists);
    expect(
      errorCode(world.submit('c1', { op: 'create', entityId: ids.b, typeName: 'ghost', data: {} })),
    ).toBe(ErrorCode.UnknownEntityType);
  });

  it('[WORLD-3] refuses seed, server, unknown fields and entities a client does not own', () => {
    const world = worldWithPlayer();
    world.connect('c2');
    world.step();
    const update = (connection: string, data: Record<string, number | string>, entityId = ids.a) =>
      errorCode(world.submit(connection, { op: 'update', entityId, data }));
    expect(update('c1', { color: 'green' })).toBe(ErrorCode.SeedField);
    expect(update('c1', { hp: 1 })).toBe(ErrorCode.AccessDenied);
    expect(update('c1', { z: 1 })).toBe(ErrorCode.UnknownField);
    expect(update('c2', { x: 1 })).toBe(ErrorCode.NotOwner);
    expect(update('c1', { x: 1 }, ids.c)).toBe(ErrorCode.EntityNotFound);
    expect(update('c1', { x: 50 })).toBeUndefined();
    expect(world.step().frame.entities).toEqual([{ id: ids.a, typeName: 'player', fields: { x: 50 } }]);
  });

  it('[WORLD-3] lets a client update its entity in the same batch that creates it', () => {
    const world = new World(arena);
    world.connect('c1');
    world.submit('c1', { op: 'create', entityId: ids.a, typeName: 'player', data: {} });
    expect(world.submit('c1', { op: 'update', entityId: ids.a, data: { x: 3 } }).ok).toBe(true);
    expect(world.step().frame.entities[0]?.fields?.x).toBe(3);
  });

  it('[WORLD-4] refuses out-of-range and mistyped client values, clamps server values', () => {
    const world = worldWithPlayer();
    expect(errorCode(world.submit('c1', { op: 'update', entityId: ids.a, data: { x: 101 } }))).toBe(
      ErrorCode.OutOfRange,
    );
    expect(errorCode(world.submit('c1', { op: 'update', entityId: ids.a, data: { x: 'far' } }))).toBe(
      ErrorCode.FieldType,
    );
    world.updateEntity(ids.a, { hp: -500, x: -4 });
    const { frame } = world.step();
    expect(frame.entities[0]?.fields).toEqual({ hp: 0, x: 0 });
    expect(() => world.updateEntity(ids.a, { hp: 'lots' })).toThrow(P3Error);
  });

  it('[WORLD-5] keeps non-replicable fields out of frames, deltas and full state, and away from clients', () => {
    const world = worldWithPlayer();
    world.updateEntity(ids.a, { secret: 'shh' });
    const { frame } = world.step();
    expect(JSON.stringify(frame)).not.toContain('shh');
    expect(JSON.stringify(world.fullState())).not.toContain('secret');
    expect(JSON.stringify(world.changesSince(0))).not.toContain('secret');
    expect(world.entity(ids.a)?.get('secret')).toBe('shh');
    expect(errorCode(world.submit('c1', { op: 'update', entityId: ids.a, data: { secret: 'x' } }))).toBe(
      ErrorCode.UnknownField,
    );
  });
});

describe('World inputs and events', () => {
  it('[WORLD-6] keeps input state per entity, sticky until changed, written by the owner only', () => {
    const world = worldWithPlayer();
    world.connect('c2');
    expect(errorCode(world.submit('c2', { op: 'input', entityId: ids.a, input: { right: true } }))).toBe(
      ErrorCode.NotOwner,
    );
    world.submit('c1', { op: 'input', entityId: ids.a, input: { right: true } });
    const moved = world.step().frame;
    expect(moved.entities[0]).toMatchObject({ input: { right: true }, fields: { x: 20 } });
    expect(world.entity(ids.a)?.isOn('right')).toBe(true);
    expect(world.step().frame.entities[0]?.fields?.x).toBe(30);
    world.submit('c1', { op: 'input', entityId: ids.a, input: { right: false } });
    world.step();
    const idle = world.step().frame;
    expect(idle.entities).toEqual([]);
  });

  it('[WORLD-19] gives unstamped input changes of one entity consecutive frames: a quick press is seen', () => {
    const world = worldWithPlayer();
    const next = world.frame + 1;
    const press = world.submit('c1', { op: 'input', entityId: ids.a, input: { right: true } });
    const release = world.submit('c1', { op: 'input', entityId: ids.a, input: { right: false } });
    const update = world.submit('c1', { op: 'update', entityId: ids.a, data: { y: 7 } });
    expect([press, release, update].map((r) => (r.ok ? r.value : r.error.code))).toEqual([
      next,
      next + 1,
      next,
    ]);
    // The tick logic saw the press (moved right once), then the release.
    expect(world.step().frame.entities[0]).toMatchObject({ input: { right: true }, fields: { x: 20 } });
    expect(world.step().frame.entities[0]).toMatchObject({ input: { right: false } });
    // Once its frame passed, the next unstamped change takes the next tick again.
    const later = world.submit('c1', { op: 'input', entityId: ids.a, input: { right: true } });
    expect(later.ok && later.value).toBe(world.frame + 1);
  });

  it('[WORLD-7] applies client events at their frame and lets logic react', () => {
    const world = worldWithPlayer();
    const frame = world.frame + 1;
    world.submit('c1', { op: 'event', name: 'hit', eventType: 'combat', data: ids.a, frame });
    const out = world.step().frame;
    expect(out.events).toEqual([
      { id: expect.any(String), name: 'hit', type: 'combat', originalFrame: frame, data: ids.a },
    ]);
    expect(out.entities[0]?.fields?.hp).toBe(90);
  });

  it('[WORLD-7] gives logic events an id, the current frame and the data', () => {
    const world = new World(
      defineWorld({
        schema,
        tick: (ctx) => void (ctx.frame === 2 && ctx.emit('boss_spawned', 'world_events', 'orlok_1,1000')),
      }),
    );
    world.step();
    expect(world.step().frame.events).toEqual([
      { id: '2:0', name: 'boss_spawned', type: 'world_events', originalFrame: 2, data: 'orlok_1,1000' },
    ]);
  });
});

describe('World frames', () => {
  it('[WORLD-8] numbers frames consecutively and marks them verified only when owners covered them', () => {
    const world = worldWithPlayer();
    expect(world.frame).toBe(1);
    const second = world.step().frame;
    expect(second.id).toBe(2);
    expect(second.type).toBe(FrameType.Generated);
    world.cover('c1', 5);
    expect(world.step().frame.type).toBe(FrameType.Verified);
    world.connect('spectator');
    expect(world.step().frame.type).toBe(FrameType.Verified);
  });

  it('[WORLD-8] counts the connected owners, not entities left owned by a connection that is gone', () => {
    const world = worldWithPlayer(); // frame 1, c1 owns player a
    expect(world.submit('c1', { op: 'create', entityId: ids.c, typeName: 'crate', data: {} }).ok).toBe(true);
    world.cover('c1', 2);
    expect(world.step().frame.type).toBe(FrameType.Verified); // 2: the crate is c1's
    // c1 leaves: its player goes (connection-bound), the crate stays c1's; nobody connected owns anything.
    world.disconnect('c1');
    world.step();
    for (let i = 0; i < 3; i++) expect(world.step().frame.type).toBe(FrameType.Verified);
  });

  it('[WORLD-8] keeps frames verified while an owner is idle (cover with idle), until its next ops', () => {
    const world = worldWithPlayer(); // frame 1, c1 owns a
    world.cover('c1', 1, { idle: true });
    // c1 covered only frame 1, but declared that it sends nothing more: the frames ticked meanwhile are verified.
    for (let i = 0; i < 5; i++) expect(world.step().frame.type).toBe(FrameType.Verified); // 2..6
    world.cover('c1', 7); // ops `through` 7: active again, covered through 7 only
    expect(world.step().frame.type).toBe(FrameType.Verified); // 7
    expect(world.step().frame.type).toBe(FrameType.Generated); // 8
    world.cover('c1', 8, { idle: true });
    expect(world.step().frame.type).toBe(FrameType.Verified); // 9
    world.active('c1'); // ops without `through`
    expect(world.step().frame.type).toBe(FrameType.Generated); // 10
    // An op that arrives late for a frame verified while idle corrects it, as any late op does.
    world.cover('c1', 10, { idle: true });
    world.step(); // 11
    expect(world.submit('c1', { op: 'input', entityId: ids.a, input: { right: true }, frame: 11 }).ok).toBe(
      true,
    );
    const { corrections } = world.step();
    expect(corrections.map((f) => [f.id, f.type])).toEqual([[11, FrameType.Corrected]]);
    // A connection that leaves and joins again starts without its idle declaration.
    world.disconnect('c1');
    world.step();
    world.connect('c1');
    world.submit('c1', { op: 'create', entityId: ids.b, typeName: 'player', data: { x: 1 } });
    world.step();
    expect(world.step().frame.type).toBe(FrameType.Generated);
  });

  it('[WORLD-18] advanceTo moves the frame clock without simulating; work of skipped frames applies next', () => {
    const scheduled: number[] = [];
    const world = new World(arena, {
      tickRate: 30,
      bufferFrame: 10,
      onSchedule: () => scheduled.push(world.frame),
    });
    world.connect('c1');
    world.submit('c1', { op: 'create', entityId: ids.a, typeName: 'player', data: { x: 10 } });
    expect(scheduled).toEqual([0, 0]);
    world.step(); // 1
    expect(world.nextWorkFrame).toBeUndefined();
    world.setInputState(ids.a, { right: true }, { frame: 5 });
    world.createEntity('crate', {}, { id: ids.c, frame: 3 });
    expect(world.nextWorkFrame).toBe(3);
    world.advanceTo(1000);
    expect(world.frame).toBe(1000);
    // Nothing ran for frames 2..1000: the player did not move, the crate does not exist yet.
    expect(world.entity(ids.a)?.get('x')).toBe(10);
    expect(world.entity(ids.c)).toBeUndefined();
    expect(world.nextWorkFrame).toBe(1001);
    const { frame } = world.step();
    expect(frame.id).toBe(1001);
    expect(frame.entities.find((e) => e.id === ids.c)?.created).toBe(true);
    expect(frame.entities.find((e) => e.id === ids.a)).toMatchObject({
      input: { right: true },
      fields: { x: 20 },
    });
    expect(
      world
        .changesSince(1000)
        .entities.map((e) => e.id)
        .sort(),
    ).toEqual([ids.a, ids.c]);
    // Frames skipped cannot be rewound: ops stamped for them are dropped.
    expect(errorCode(world.submit('c1', { op: 'input', entityId: ids.a, input: {}, frame: 999 }))).toBe(
      ErrorCode.FrameDropped,
    );
    // A pending rewind is stepped first.
    world.submit('c1', { op: 'input', entityId: ids.a, input: { right: false }, frame: 1001 });
    expect(world.nextWorkFrame).toBe(1002);
    expect(() => world.advanceTo(2000)).toThrow(RangeError);
    world.step(); // 1002
    // advanceTo the current frame only seals the history: no rewind into it (a host that stops ticking).
    world.step(); // 1003
    expect(world.submit('c1', { op: 'input', entityId: ids.a, input: {}, frame: 1002 }).ok).toBe(true);
    world.step(); // 1004
    world.advanceTo(1004);
    expect(world.frame).toBe(1004);
    expect(errorCode(world.submit('c1', { op: 'input', entityId: ids.a, input: {}, frame: 1003 }))).toBe(
      ErrorCode.FrameDropped,
    );
  });

  it('[WORLD-9] re-issues frames changed by a late input as corrected, and only those', () => {
    const world = worldWithPlayer();
    for (let i = 0; i < 4; i++) world.step(); // frames 2..5
    const before = world.frames().map((f) => f.id);
    expect(before).toContain(3);
    expect(world.submit('c1', { op: 'input', entityId: ids.a, input: { right: true }, frame: 3 }).ok).toBe(
      true,
    );
    const { frame, corrections } = world.step();
    expect(frame.id).toBe(6);
    expect(corrections.map((f) => [f.id, f.type])).toEqual([
      [3, 'corrected'],
      [4, 'corrected'],
      [5, 'corrected'],
    ]);
    expect(corrections[0]?.entities[0]).toMatchObject({ input: { right: true }, fields: { x: 20 } });
    expect(frame.entities[0]?.fields?.x).toBe(50);
    expect(world.getFrame(4)?.type).toBe('corrected');
  });

  it('[WORLD-9] applies updates to an entity whose creation a late op re-ran (the re-created entry)', () => {
    const world = worldWithPlayer();
    expect(world.submit('c1', { op: 'create', entityId: ids.b, typeName: 'player', data: { x: 1 } }).ok).toBe(
      true,
    );
    world.step(); // frame 2 creates b
    world.step(); // 3
    world.step(); // 4
    // Both updates are checked against b's entry of frame 2; the late input below rolls that creation back.
    expect(world.submit('c1', { op: 'update', entityId: ids.b, data: { x: 7 }, frame: 3 }).ok).toBe(true);
    expect(world.submit('c1', { op: 'update', entityId: ids.b, data: { x: 9 } }).ok).toBe(true);
    expect(world.submit('c1', { op: 'input', entityId: ids.a, input: { right: true }, frame: 2 }).ok).toBe(
      true,
    );
    const { frame, corrections, rejections } = world.step();
    expect(rejections).toEqual([]);
    const corrected3 = corrections.find((f) => f.id === 3);
    expect(corrected3?.entities.find((e) => e.id === ids.b)?.fields).toEqual({ x: 7 });
    expect(frame.entities.find((e) => e.id === ids.b)?.fields).toEqual({ x: 9 });
    expect(world.entity(ids.b)?.get('x')).toBe(9);
  });

  it('[WORLD-9] reports an op refused when applied with its (stamp, seq)', () => {
    const world = worldWithPlayer(); // current 1
    const update: Op = { op: 'update', entityId: ids.a, data: { x: 5 }, frame: 3 };
    expect(world.submit('c1', update, { stamp: 3, seq: 7 }).ok).toBe(true);
    world.deleteEntity(ids.a, { frame: 2 });
    expect(world.step().rejections).toEqual([]);
    const { rejections } = world.step();
    expect(rejections.map((r) => [r.origin, r.ref, r.frame, r.error.code])).toEqual([
      ['c1', { stamp: 3, seq: 7 }, 3, ErrorCode.EntityNotFound],
    ]);
  });

  it('[WORLD-9] does not re-issue frames whose content a late op leaves unchanged', () => {
    const world = worldWithPlayer();
    world.step();
    world.step();
    world.submit('c1', { op: 'input', entityId: ids.a, input: { left: false }, frame: 2 });
    world.submit('c1', { op: 'input', entityId: ids.a, input: { left: false }, frame: 2 });
    const { corrections } = world.step();
    expect(corrections.map((f) => f.id)).toEqual([2]);
  });

  it('[WORLD-10] refuses ops older than the window (FRAME_DROPPED) and too far ahead', () => {
    const world = worldWithPlayer({ bufferFrame: 3 });
    for (let i = 0; i < 5; i++) world.step(); // current 6
    const at = (frame: number): Op => ({ op: 'input', entityId: ids.a, input: { right: true }, frame });
    expect(errorCode(world.submit('c1', at(3)))).toBe(ErrorCode.FrameDropped);
    expect(world.submit('c1', at(4)).ok).toBe(true);
    expect(errorCode(world.submit('c1', at(6 + 31)))).toBe(ErrorCode.FrameTooFarAhead);
    expect(world.submit('c1', at(6 + 30)).ok).toBe(true);
  });

  it('[WORLD-11] reproduces the same frames when re-simulated with the same ops', () => {
    const noisy = defineWorld({
      schema,
      tick(ctx) {
        for (const p of ctx.entities('player')) p.set('y', Math.floor(ctx.random() * 100));
        if (ctx.frame % 3 === 0) ctx.create('crate', { weight: 1 + Math.floor(ctx.random() * 9) });
      },
    });
    const run = (late: boolean) => {
      const world = new World(noisy, { bufferFrame: 10, seed: 7 });
      world.connect('c1');
      world.submit('c1', { op: 'create', entityId: ids.a, typeName: 'player', data: {} });
      world.submit('c1', { op: 'input', entityId: ids.a, input: { fire: true }, frame: 4 });
      const frames = [];
      for (let i = 0; i < 8; i++) {
        if (late && i === 6)
          world.submit('c1', { op: 'input', entityId: ids.a, input: { fire: true }, frame: 4 });
        const r = world.step();
        frames.push(r.frame, ...r.corrections);
      }
      return {
        frames: frames.filter((f) => f.type !== 'corrected'),
        corrected: frames.filter((f) => f.type === 'corrected'),
        world,
      };
    };
    const straight = run(false);
    const replayed = run(true);
    expect(replayed.corrected).toEqual([]);
    expect(replayed.frames).toEqual(straight.frames);
    expect(replayed.world.snapshot()).toEqual(straight.world.snapshot());
  });

  it('[WORLD-12] removes connection-bound entities when their connection leaves, keeps the others', () => {
    const world = worldWithPlayer();
    world.submit('c1', { op: 'create', entityId: ids.b, typeName: 'crate', data: {} });
    world.step();
    world.disconnect('c1');
    const { frame } = world.step();
    expect(frame.removed).toEqual([ids.a]);
    expect(world.entity(ids.b)?.owner).toBe('c1');
    expect(world.connections()).toEqual([]);
  });

  it('[WORLD-15] gives entities created by logic deterministic UUIDv7 ids stamped with the frame time', () => {
    const spawner = defineWorld({ schema, tick: (ctx) => void (ctx.frame === 3 && ctx.create('crate')) });
    const make = () => new World(spawner, { frameZeroWallMs: 1_767_225_600_000, seed: 3 });
    const a = make();
    const b = make();
    for (let i = 0; i < 3; i++) {
      a.step();
      b.step();
    }
    const [crate] = a.entities('crate');
    expect(crate?.id).toBe(b.entities('crate')[0]?.id);
    expect(uuidv7Time(crate!.id)).toBe(1_767_225_600_000 + 100);
  });
});

describe('World state transfer', () => {
  it('[WORLD-13] snapshots in the seed-000 shape and restores to the same state and deltas', () => {
    const world = worldWithPlayer();
    world.submit('c1', { op: 'create', entityId: ids.b, typeName: 'crate', data: { weight: 3 } });
    world.updateEntity(ids.a, { secret: 'kept' });
    world.step();
    world.submit('c1', { op: 'delete', entityId: ids.b });
    world.step();
    const snapshot = world.snapshot();
    expect(snapshot.entities[0]).toMatchObject({
      id: ids.a,
      typeName: 'player',
      firstSeen: 1,
      lastSeen: 2,
      connectionId: 'c1',
      data: { secret: 'kept' },
    });
    expect(snapshot.connections).toEqual([{ id: 'c1', firstSeen: 1, lastSeen: 3, entities: [ids.a] }]);
    expect(snapshot.frames.map((f) => f.id)).toEqual([1, 2, 3]);
    expect(snapshot.frames[0]).toHaveProperty('globalTimeDesynced');
    expect(snapshot.tombstones).toEqual([{ id: ids.b, deletedAt: 3 }]);
    const restored = new World(
      arena,
      { tickRate: 30, bufferFrame: 10 },
      JSON.parse(JSON.stringify(snapshot)),
    );
    expect(restored.frame).toBe(3);
    expect(restored.snapshot()).toEqual(snapshot);
    expect(restored.changesSince(1)).toEqual(world.changesSince(1));
    expect(restored.entity(ids.a)?.get('secret')).toBe('kept');
    expect(
      errorCode(restored.submit('c1', { op: 'update', entityId: ids.a, data: { x: 1 }, frame: 2 })),
    ).toBe(ErrorCode.FrameDropped);
  });

  it("[WORLD-14] reaches back before corrections issued after the client's frame", () => {
    const world = worldWithPlayer();
    for (let i = 0; i < 4; i++) world.step(); // frames 2..5: a client holds frame 5
    world.submit('c1', { op: 'input', entityId: ids.a, input: { right: true }, frame: 3 });
    world.step(); // frame 6, corrections 3..5 rewrite x with versions 3..5
    const delta = world.changesSince(5);
    expect(delta.entities.find((e) => e.id === ids.a)?.fields?.x).toBe(world.entity(ids.a)?.get('x'));
    expect(world.changesSince(6).entities).toEqual([]);
  });

  it('[WORLD-14] brings a client from a past frame to now, or sends the full state once pruned', () => {
    const world = worldWithPlayer();
    world.submit('c1', { op: 'create', entityId: ids.b, typeName: 'crate', data: {} });
    world.step(); // 2
    world.submit('c1', { op: 'update', entityId: ids.a, data: { y: 9 } });
    world.submit('c1', { op: 'delete', entityId: ids.b });
    world.step(); // 3
    expect(world.changesSince(2)).toEqual({
      complete: true,
      entities: [{ id: ids.a, typeName: 'player', fields: { y: 9 } }],
      removed: [ids.b],
    });
    const fromStart = world.changesSince(0);
    expect(fromStart.entities.map((e) => [e.id, e.created])).toEqual([[ids.a, true]]);
    world.pruneTombstones(3);
    const pruned = world.changesSince(2);
    expect(pruned.complete).toBe(false);
    expect(pruned.entities).toEqual(world.fullState());
  });
});
