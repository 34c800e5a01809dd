import { describe, expect, it, vi } from 'vitest';
import type { Op } from '@p3/protocol';
import { Outbound } from '../src/outbound.js';
import { useServer } from './support/fixture.js';
import { frameWhere } from './support/latch.js';

const E = '0190d7a0-0000-7000-8000-0000000000ee';
const F = '0190d7a0-0000-7000-8000-0000000000ff';
const input = (right: boolean, entityId = E): Op => ({ op: 'input', entityId, input: { right } });

function outbound(): Outbound {
  const out = new Outbound({ stamp: 7, onChange: () => undefined });
  out.restore(null);
  return out;
}

const frames = (out: Outbound, at: number) => out.takeBatches(at).flatMap((b) => b.ops.map((op) => op.frame));

describe('input changes across messages', () => {
  it('[CLIENT-33] an input change goes at least one frame after the entity’s previous one, also when sent in an earlier message', () => {
    const out = outbound();
    out.push(input(true));
    expect(frames(out, 20)).toEqual([20]);
    // The release goes out on its own before the room reached frame 21: it would cancel the press within frame 20.
    out.push(input(false));
    out.push(input(true, F));
    expect(frames(out, 20)).toEqual([21, 20]);
    out.push(input(true));
    expect(frames(out, 21)).toEqual([22]);
    // Once the send frame is past the previous change, it is the send frame again.
    out.push(input(false));
    expect(frames(out, 30)).toEqual([30]);
    // At most four frames after the send frame, however many changes came before.
    for (let i = 0; i < 8; i++) {
      out.push(input(i % 2 === 0));
      frames(out, 40);
    }
    out.push(input(true));
    expect(frames(out, 40)).toEqual([44]);
    // A new connection starts over (everything above acknowledged, so nothing is resent).
    out.ack(7, 14, undefined, 45);
    out.resetConnection();
    out.push(input(false));
    expect(frames(out, 40)).toEqual([40]);
  });

  describe('against a room', () => {
    const t = useServer();

    it('[CLIENT-33] a key pressed and released in two messages within one tick is held for a frame', async () => {
      const p3 = t.client({ sendRate: 100 });
      await p3.connect();
      const avatar = p3.createEntity('avatar');
      await frameWhere(p3, (f) => f.getWorldEntity(avatar) !== undefined);
      p3.setInputState(avatar, { right: true });
      // The press goes out at once; the release 10 ms later, in its own message, within the same 50 ms tick.
      await new Promise((resolve) => setTimeout(resolve, 10));
      p3.setInputState(avatar, { right: false });
      await vi.waitFor(() =>
        expect(t.server.room(t.room)!.world.entity(avatar)!.input).toEqual({ right: false }),
      );
      expect(t.server.room(t.room)!.world.entity(avatar)!.get('x')).toBe(1);
      // The client's authoritative world agrees (idle ticks after it send no frames to wait for).
      await vi.waitFor(() => expect(p3.getFrame(0)?.getWorldEntity(avatar)?.fields.x).toBe(1));
    });
  });
});
