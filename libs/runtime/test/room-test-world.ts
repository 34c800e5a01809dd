import { defineWorld } from '@p3/engine';

/**
 * The world the room tests host: an `avatar` bound to its owner's connection that `right` moves one unit a tick, a
 * `note` with text, and a `counter` with a number (entities any member may create and write).
 */
export const roomTestWorld = defineWorld({
  schema: {
    avatar: {
      connectionBound: true,
      fields: { x: { dataType: 'number', min: 0, max: 100, accessControl: 'client' } },
    },
    note: { fields: { text: { dataType: 'string', accessControl: 'client' } } },
    counter: { fields: { n: { dataType: 'integer', min: 0, max: 1_000_000, accessControl: 'client' } } },
  },
  tick(ctx) {
    for (const a of ctx.entities('avatar')) if (a.isOn('right')) a.set('x', a.get<number>('x') + 1);
  },
});
