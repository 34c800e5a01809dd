import type { WorldSchema } from '@p3/protocol';

/** Size of the benchmark arena: bots stay inside it (the server refuses client writes outside min..max). */
export const ARENA_BOUNDS = { width: 1000, height: 1000 } as const;

/** The one entity type of the benchmark. */
export const BOT_TYPE = 'bot';

/**
 * The benchmark world: one `bot` per client, moved by its client (every field `accessControl: 'client'`). `t` is
 * the sender's `performance.now()` at send time: unbounded, so the binary codec sends it exactly (in a run of
 * millionths: see float-runs.ts) and receivers in the same process can compute `now - t` as the update's latency.
 */
export const arenaBenchSchema: WorldSchema = {
  [BOT_TYPE]: {
    connectionBound: true,
    fields: {
      x: { dataType: 'number', min: 0, max: ARENA_BOUNDS.width, interpolate: true, accessControl: 'client' },
      y: { dataType: 'number', min: 0, max: ARENA_BOUNDS.height, interpolate: true, accessControl: 'client' },
      t: { dataType: 'number', accessControl: 'client' },
    },
  },
};

/** Where bot `index` is at time `ms`: a circle around a per-bot centre, always inside the bounds. */
export function botPosition(index: number, ms: number, out: { x: number; y: number }): void {
  const cx = 100 + ((index * 37) % (ARENA_BOUNDS.width - 200));
  const cy = 100 + ((index * 61) % (ARENA_BOUNDS.height - 200));
  const angle = ms / 500 + index;
  out.x = cx + 80 * Math.cos(angle);
  out.y = cy + 80 * Math.sin(angle);
}
