import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { capped } from '@p3/test-support/property';
import { World } from '@p3/engine';
import type { Frame, Op } from '@p3/protocol';
import { scriptedLogic, scriptPlayers } from './world-fixtures.js';

// Late ops inside the window must leave the world exactly as if they had come on time: the rewind (undo logs
// reused from frame to frame, index and connection reverts) and the re-run together are invisible.

const players = scriptPlayers;
type Client = keyof typeof players;
const logic = scriptedLogic;

interface ScriptedOp {
  readonly frame: number;
  readonly client: Client;
  readonly op: Op;
}

const BUFFER = 4;
const FRAMES = 24;
/** c2 leaves before this step; its ops stop early enough that even late ones reach the world before it leaves. */
const C2_LEAVES = 16;

const crateId = (n: number): string => `0190d7a0-0000-7000-8000-${n.toString(16).padStart(12, '0')}`;

const opArb = (n: number): fc.Arbitrary<ScriptedOp> =>
  fc
    .record({
      frame: fc.integer({ min: 2, max: FRAMES }),
      client: fc.constantFrom<Client>('c1', 'c2'),
      kind: fc.constantFrom('right', 'stop', 'move', 'crate', 'hit'),
      x: fc.double({ min: 0, max: 100, noNaN: true }),
    })
    .map(({ frame, client, kind, x }) => {
      const entityId = players[client];
      const f = client === 'c2' ? Math.min(frame, C2_LEAVES - BUFFER) : frame;
      const op: Op =
        kind === 'right' || kind === 'stop'
          ? { op: 'input', entityId, input: { right: kind === 'right' }, frame: f }
          : kind === 'move'
            ? { op: 'update', entityId, data: { x }, frame: f }
            : kind === 'crate'
              ? { op: 'create', entityId: crateId(n), typeName: 'crate', data: { weight: 2 }, frame: f }
              : { op: 'event', name: 'hit', eventType: 'combat', data: players.c1, frame: f };
      return { frame: f, client, op };
    });

const scriptArb = fc
  .array(fc.nat(), { maxLength: 30 })
  .chain((seeds) => fc.tuple(...seeds.map((_, i) => opArb(i + 1))))
  .map((ops) => [...ops].sort((a, b) => a.frame - b.frame));

/**
 * Runs the script: ops of frame f are submitted when the world is at frame `f - 1 + lag(f)` (lag 0 = on time).
 * Returns the final snapshot and every frame's last issued content.
 */
function run(script: readonly ScriptedOp[], lag: (frame: number) => number) {
  const world = new World(logic, { bufferFrame: BUFFER, seed: 11 });
  world.connect('c1');
  world.connect('c2');
  world.submit('c1', { op: 'create', entityId: players.c1, typeName: 'player', data: {} });
  world.submit('c2', { op: 'create', entityId: players.c2, typeName: 'player', data: {} });
  const issued = new Map<number, Frame>();
  const keep = (frame: Frame): void => void issued.set(frame.id, frame);
  keep(world.step().frame);
  const refusals: string[] = [];
  for (let step = 2; step <= FRAMES + BUFFER; step++) {
    if (step === C2_LEAVES) world.disconnect('c2');
    for (const s of script) {
      if (s.frame - 1 + lag(s.frame) !== world.frame) continue;
      const result = world.submit(s.client, s.op);
      if (!result.ok) refusals.push(`${s.frame}:${result.error.code}`);
    }
    const result = world.step();
    result.corrections.forEach(keep);
    keep(result.frame);
  }
  const content = [...issued.values()]
    .sort((a, b) => a.id - b.id)
    // A client event's id holds its arrival order in the world, which a late schedule changes by design.
    .map((f) => ({
      id: f.id,
      entities: f.entities,
      events: f.events.map(({ id: _id, ...event }) => event),
      removed: f.removed,
    }));
  return { snapshot: world.snapshot(), content, refusals };
}

describe('World re-simulation (property)', () => {
  it('late ops inside the window end in the same state and frames as on-time ops', () => {
    fc.assert(
      fc.property(
        scriptArb,
        fc.array(fc.integer({ min: 0, max: BUFFER - 1 }), { minLength: FRAMES + 1, maxLength: FRAMES + 1 }),
        (script, lags) => {
          const onTime = run(script, () => 0);
          const late = run(script, (frame) => lags[frame] ?? 0);
          expect(late.refusals).toEqual(onTime.refusals);
          expect(late.content).toEqual(onTime.content);
          const { frames: _lateFrames, ...lateState } = late.snapshot;
          const { frames: _onTimeFrames, ...onTimeState } = onTime.snapshot;
          expect(lateState).toEqual(onTimeState);
        },
      ),
      capped({ numRuns: 150 }),
    );
  });
});
