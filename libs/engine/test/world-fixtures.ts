import { defineWorld, type WorldDefinition } from '@p3/engine';
import type { WorldSchema } from '@p3/protocol';

export const schema = {
  player: {
    connectionBound: true,
    fields: {
      x: { dataType: 'number', min: 0, max: 100, accessControl: 'client', interpolate: true },
      y: { dataType: 'number', min: 0, max: 100, accessControl: 'client' },
      color: { dataType: 'string', accessControl: 'seed', maxLength: 16, default: 'red' },
      hp: { dataType: 'integer', min: 0, max: 100, default: 100 },
      secret: { dataType: 'string', replicable: false },
    },
  },
  crate: {
    fields: { weight: { dataType: 'integer', min: 1, max: 10, accessControl: 'client', default: 1 } },
  },
} as const satisfies WorldSchema;

/** Players with `right` held move +10 units/s; `hit` events cost 10 hp. */
export const arena: WorldDefinition = defineWorld({
  schema,
  tick(ctx) {
    for (const p of ctx.entities('player')) {
      if (p.isOn('right')) p.set('x', p.get<number>('x') + 10 * ctx.dt * 30);
    }
    for (const event of ctx.events) {
      if (event.name === 'hit' && typeof event.data === 'string') {
        const target = ctx.entity(event.data);
        if (target) target.set('hp', target.get<number>('hp') - 10);
      }
    }
  },
});

export const ids = {
  a: '0190d7a0-0000-7000-8000-00000000000a',
  b: '0190d7a0-0000-7000-8000-00000000000b',
  c: '0190d7a0-0000-7000-8000-00000000000c',
};

/** Two players of a re-simulation or recovery script (the ids they create their avatars with). */
export const scriptPlayers = {
  c1: '0190d7a0-0000-7000-8000-0000000000c1',
  c2: '0190d7a0-0000-7000-8000-0000000000c2',
} as const;

/**
 * Players move with `right` and get a random `y` every frame; logic creates a crate every third frame and removes
 * the oldest every fifth; an event whose data is an entity id costs it 10 hp: world logic that writes, creates and
 * removes on its own (re-simulation, recovery).
 */
export const scriptedLogic = defineWorld({
  schema,
  tick(ctx) {
    for (const p of ctx.entities('player')) {
      if (p.isOn('right')) p.set('x', Math.min(100, p.get<number>('x') + 0.25));
      p.set('y', Math.floor(ctx.random() * 100));
    }
    if (ctx.frame % 3 === 0) ctx.create('crate', { weight: 1 + Math.floor(ctx.random() * 9) });
    if (ctx.frame % 5 === 0) {
      const oldest = ctx.entities('crate')[0];
      if (oldest) ctx.remove(oldest.id);
    }
    for (const event of ctx.events) {
      const target = typeof event.data === 'string' ? ctx.entity(event.data) : undefined;
      if (target) target.set('hp', Math.max(0, target.get<number>('hp') - 10));
    }
  },
});
