import { defineWorld, type Entity, type TickContext } from '../index.js';

export const ARENA = {
  width: 800,
  height: 500,
  /** Player speed, px/s. */
  speed: 220,
  /** Bots wander slower than players, so a player can catch one. */
  botSpeed: 70,
  bots: 3,
  /** Centre distance at which a player tags a bot (the radii drawn on the page: 16 + 14). */
  tagDistance: 30,
} as const;

/** The event a tag emits: `originalFrame` (on the event) says in which frame it happened. */
export interface TagEventData {
  readonly tagger: string;
  readonly taggerName: string;
  readonly bot: string;
  readonly botName: string;
}

/**
 * The demo world: players move by input; three server-driven bots wander; a player who touches a bot tags it
 * (a `tag` event, a point, and the bot runs off elsewhere). The browser bundles this same definition to predict its
 * own player ahead of the server (one world definition, run in both places). What only the server can decide (random
 * spawns, bots, tags: they depend on server-only fields and on the room's random source) runs under `ctx.authority`,
 * so a client's prediction replays player movement and nothing else.
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
        /** Bots tagged (server-written). */
        tags: { dataType: 'integer', min: 0, max: 1_000_000 },
        // Server-only bookkeeping (seed 004): never sent to clients, so only read under ctx.authority.
        spawned: { dataType: 'boolean', replicable: false },
      },
    },
    bot: {
      fields: {
        x: { dataType: 'number', min: 0, max: ARENA.width, interpolate: true },
        y: { dataType: 'number', min: 0, max: ARENA.height, interpolate: true },
        name: { dataType: 'string', maxLength: 24 },
        /** Direction of travel in radians: the server's business. */
        heading: { dataType: 'number', replicable: false },
      },
    },
  },
  tick(ctx) {
    if (ctx.authority) spawnPlayers(ctx);
    const step = ARENA.speed * ctx.dt;
    for (const p of ctx.entities('player')) {
      const dx = (p.isOn('right') ? 1 : 0) - (p.isOn('left') ? 1 : 0);
      const dy = (p.isOn('down') ? 1 : 0) - (p.isOn('up') ? 1 : 0);
      if (dx !== 0) p.set('x', p.get<number>('x') + dx * step);
      if (dy !== 0) p.set('y', p.get<number>('y') + dy * step);
    }
    if (!ctx.authority) return;
    wanderBots(ctx);
    tagBots(ctx);
  },
});

/** A new player lands somewhere random (the room's seeded random source, so re-simulation agrees). */
function spawnPlayers(ctx: TickContext): void {
  for (const p of ctx.entities('player')) {
    if (p.get<boolean>('spawned')) continue;
    p.set('x', 60 + ctx.random() * (ARENA.width - 120));
    p.set('y', 60 + ctx.random() * (ARENA.height - 120));
    p.set('spawned', true);
  }
}

/** Bots are the room's, not a connection's: created in the room's first frame, they outlive every player. */
function wanderBots(ctx: TickContext): void {
  let bots = ctx.entities('bot');
  if (bots.length === 0) {
    for (let i = 1; i <= ARENA.bots; i++) {
      ctx.create('bot', {
        name: `bot ${i}`,
        x: 60 + ctx.random() * (ARENA.width - 120),
        y: 60 + ctx.random() * (ARENA.height - 120),
        heading: ctx.random() * 2 * Math.PI,
      });
    }
    bots = ctx.entities('bot');
  }
  const step = ARENA.botSpeed * ctx.dt;
  for (const bot of bots) {
    let heading = bot.get<number>('heading');
    if (ctx.random() < 0.02) heading = ctx.random() * 2 * Math.PI;
    let x = bot.get<number>('x') + Math.cos(heading) * step;
    let y = bot.get<number>('y') + Math.sin(heading) * step;
    // Bounce off the walls.
    if (x < 20 || x > ARENA.width - 20) heading = Math.PI - heading;
    if (y < 20 || y > ARENA.height - 20) heading = -heading;
    x = Math.min(ARENA.width - 20, Math.max(20, x));
    y = Math.min(ARENA.height - 20, Math.max(20, y));
    bot.set('x', x);
    bot.set('y', y);
    bot.set('heading', heading);
  }
}

/** A player touching a bot tags it: a `tag` event at this frame, a point, and the bot reappears away from them. */
function tagBots(ctx: TickContext): void {
  const players = ctx.entities('player');
  for (const bot of ctx.entities('bot')) {
    const tagger = players.find((p) => distance(p, bot) < ARENA.tagDistance);
    if (tagger === undefined) continue;
    const data: TagEventData = {
      tagger: tagger.id,
      taggerName: tagger.get<string>('name'),
      bot: bot.id,
      botName: bot.get<string>('name'),
    };
    ctx.emit('tag', 'game', { ...data });
    tagger.set('tags', tagger.get<number>('tags') + 1);
    // Far from the tagger: the other half of the arena.
    bot.set('x', (tagger.get<number>('x') + ARENA.width / 2) % ARENA.width);
    bot.set('y', 60 + ctx.random() * (ARENA.height - 120));
  }
}

function distance(a: Entity, b: Entity): number {
  return Math.hypot(a.get<number>('x') - b.get<number>('x'), a.get<number>('y') - b.get<number>('y'));
}
