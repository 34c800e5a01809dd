import { defineWorld } from '@p3/engine';

export const ARENA = { width: 800, height: 500, speed: 220 } as const;

/**
 * The demo world: players move by input, server-authoritative. The browser bundles this same definition to
 * predict its own player ahead of the server (one world definition, run in both places).
 */
export const arenaWorld = defineWorld({
  schema: {
    player: {
      connectionBound: true,
      fields: {
        x: { dataType: 'number', min: 0, max: ARENA.width, interpolate: true, default: ARENA.width / 2 },
        y: { dataType: 'number', min: 0, max: ARENA.height, interpolate: true, default: ARENA.height / 2 },
        color: { dataType: 'string', accessControl: 'seed', maxLength: 16, default: '#4ea1ff' },
        name: { dataType: 'string', accessControl: 'seed', maxLength: 24, default: 'player' },
        // Server-only bookkeeping (seed 004): never sent to clients.
        spawned: { dataType: 'boolean', replicable: false },
      },
    },
  },
  tick(ctx) {
    const step = ARENA.speed * ctx.dt;
    for (const p of ctx.entities('player')) {
      if (!p.get<boolean>('spawned')) {
        // Positions are the server's: a new player lands somewhere random (seeded, so re-simulation agrees).
        p.set('x', 60 + ctx.random() * (ARENA.width - 120));
        p.set('y', 60 + ctx.random() * (ARENA.height - 120));
        p.set('spawned', true);
      }
      const dx = (p.isOn('right') ? 1 : 0) - (p.isOn('left') ? 1 : 0);
      const dy = (p.isOn('down') ? 1 : 0) - (p.isOn('up') ? 1 : 0);
      if (dx !== 0) p.set('x', p.get<number>('x') + dx * step);
      if (dy !== 0) p.set('y', p.get<number>('y') + dy * step);
    }
  },
});
