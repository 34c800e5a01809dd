import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode, type P3Error } from '@p3/protocol';
import { defineWorld, type WorldDefinition } from '@p3/engine';
import { P3Client, type P3Frame } from '@p3/client';
import { startTestServer, type TestServer } from './support/test-server.js';
import { frameWhere, frames } from './support/latch.js';

/**
 * The arena demo's pattern: a player lands somewhere random once (remembered in a server-only field), then moves
 * by input. `guarded` runs the spawn under `ctx.authority`; unguarded is the mistake the demo once made.
 */
function spawnWorld(guarded: boolean): WorldDefinition {
  return defineWorld({
    schema: {
      player: {
        connectionBound: true,
        fields: {
          x: { dataType: 'number', min: 0, max: 1000 },
          spawned: { dataType: 'boolean', replicable: false },
        },
      },
    },
    tick(ctx) {
      for (const p of ctx.entities('player')) {
        if ((!guarded || ctx.authority) && !p.get<boolean>('spawned')) {
          p.set('x', 100 + Math.floor(ctx.random() * 800));
          p.set('spawned', true);
        }
        if (p.isOn('right')) p.set('x', p.get<number>('x') + 1);
      }
    },
  });
}

const x = (frame: P3Frame | undefined, id: string) => frame?.getWorldEntity(id)?.fields.x as number;

let server: TestServer | undefined;
const clients: P3Client[] = [];
let rooms = 0;

beforeEach(() => {
  server = undefined;
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.disconnect()));
  await server?.close();
});

async function spawnedPlayer(
  world: WorldDefinition,
): Promise<{ p3: P3Client; id: string; errors: P3Error[] }> {
  server = await startTestServer({ world, tickRate: 20 });
  const p3 = new P3Client({ host: server.host, port: server.port, instanceId: `idle-${++rooms}`, world });
  clients.push(p3);
  const errors: P3Error[] = [];
  p3.on('error', (error) => errors.push(error));
  await p3.connect();
  const id = p3.createEntity('player', {});
  // Spawned: the server's frame has the player away from the default 0.
  await frameWhere(p3, (f) => (x(f, id) ?? 0) >= 100);
  return { p3, id, errors };
}

/**
 * The predicted x drawn every 10 ms while the frame clock moves `count` frames on (what a page draws from
 * `getFrame(1)` at each animation frame). The room sends no frames meanwhile, only heartbeats ([CLIENT-20]).
 */
async function predictedWhileIdle(p3: P3Client, id: string, count: number): Promise<number[]> {
  const drawn: number[] = [];
  const draw = setInterval(() => {
    drawn.push(x(p3.getFrame(1), id), x(p3.getFrame(3), id));
  }, 10);
  try {
    await frames(p3, count);
  } finally {
    clearInterval(draw);
  }
  return drawn;
}

describe('prediction and server-only logic', () => {
  it('[CLIENT-16] an idle predicted player stays where the server has it (spawn logic under ctx.authority)', async () => {
    const { p3, id, errors } = await spawnedPlayer(spawnWorld(true));
    const at = x(p3.getFrame(0), id);
    const drawn = await predictedWhileIdle(p3, id, 20);
    expect(drawn.length).toBeGreaterThanOrEqual(40);
    expect(new Set(drawn)).toEqual(new Set([at]));
    expect(errors).toEqual([]);

    // Prediction still runs the shared logic: a held input moves the predicted player ahead of the server.
    p3.setInputState(id, { right: true });
    expect(x(p3.getFrame(5), id)).toBeGreaterThan(x(p3.getFrame(0), id));
  });

  it('[CLIENT-16] logic reading a server-only field outside ctx.authority is not predicted: no jump, one error', async () => {
    const { p3, id, errors } = await spawnedPlayer(spawnWorld(false));
    const at = x(p3.getFrame(0), id);
    const drawn = await predictedWhileIdle(p3, id, 20);
    expect(new Set(drawn)).toEqual(new Set([at]));
    expect(errors).toHaveLength(1);
    expect(errors[0]!.code).toBe(ErrorCode.UnknownField);
    expect(errors[0]!.message).toMatch(/prediction of frame \d+ stopped.*player\.spawned.*ctx\.authority/);

    // Without usable logic the prediction is the optimistic one: the server's world plus this client's pending ops.
    p3.setInputState(id, { right: true });
    expect(p3.getFrame(2)!.getWorldEntity(id)?.input).toEqual({ right: true });
    expect(x(p3.getFrame(2), id)).toBe(x(p3.getFrame(0), id));
  });
});
