import { defineWorld } from '@p3/engine';

/** Avatars with `right` held move +1 x per frame; notes are plain shared data. */
export const world = defineWorld({
  schema: {
    avatar: {
      connectionBound: true,
      fields: {
        x: { dataType: 'integer', min: 0, max: 100_000, accessControl: 'client', interpolate: true },
        color: { dataType: 'string', accessControl: 'seed', maxLength: 16, default: 'red' },
        hp: { dataType: 'integer', min: 0, max: 100, default: 100 },
        secret: { dataType: 'string', replicable: false },
      },
    },
    note: {
      fields: {
        text: { dataType: 'string', accessControl: 'client' },
        size: { dataType: 'number', min: 0, max: 10, accessControl: 'client' },
      },
    },
  },
  tick(ctx) {
    for (const a of ctx.entities('avatar')) if (a.isOn('right')) a.set('x', a.get<number>('x') + 1);
  },
});
