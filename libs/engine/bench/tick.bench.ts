import { World, defineWorld } from '@p3/engine';

export interface TickBenchResult {
  readonly entities: number;
  readonly engineTicksPerSecond: number;
  readonly baselineTicksPerSecond: number;
  /** engine time per tick / baseline time per tick (lower is better; 1 = as fast as mutating plain objects). */
  readonly ratio: number;
  readonly updatesPerFrame: number;
}

const schema = {
  unit: {
    fields: {
      x: { dataType: 'number', min: 0, max: 10_000 },
      y: { dataType: 'number', min: 0, max: 10_000 },
      hp: { dataType: 'integer', min: 0, max: 100, default: 100 },
    },
  },
} as const;

/** 10% of the entities move each tick (a rotating tenth), the rest stay idle. */
const world = defineWorld({
  schema,
  tick(ctx) {
    const units = ctx.entities('unit');
    const phase = ctx.frame % 10;
    for (let i = phase; i < units.length; i += 10) {
      const u = units[i]!;
      u.set('x', (u.get<number>('x') + 1) % 10_000);
      u.set('y', (u.get<number>('y') + 2) % 10_000);
    }
  },
});

/** `measure` answers runs per second of a function (scripts/runs-per-second.ts): the bench only sets up the work. */
export function benchTicks(
  entities: number,
  measure: (run: () => void, minMs: number) => number,
  minMs = 1500,
): TickBenchResult {
  const w = new World(world, { tickRate: 30, bufferFrame: 20 });
  for (let i = 0; i < entities; i++) w.createEntity('unit', { x: i % 10_000, y: (i * 7) % 10_000 });
  w.step();
  let updates = 0;
  const engine = measure(() => {
    updates = w.step().frame.entities.length;
  }, minMs);

  // Baseline: the same mutations on plain objects, collecting the changed ones as a frame would.
  const plain = Array.from({ length: entities }, (_, i) => ({
    id: String(i),
    x: i % 10_000,
    y: (i * 7) % 10_000,
    hp: 100,
  }));
  let frame = 0;
  const baseline = measure(() => {
    frame++;
    const changed: Array<{ id: string; fields: { x: number; y: number } }> = [];
    for (let i = frame % 10; i < plain.length; i += 10) {
      const u = plain[i]!;
      u.x = (u.x + 1) % 10_000;
      u.y = (u.y + 2) % 10_000;
      changed.push({ id: u.id, fields: { x: u.x, y: u.y } });
    }
  }, minMs);
  return {
    entities,
    engineTicksPerSecond: engine,
    baselineTicksPerSecond: baseline,
    ratio: baseline / engine,
    updatesPerFrame: updates,
  };
}
