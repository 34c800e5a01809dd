import { describe, expect, it } from 'vitest';
import type { GameEvent } from '@p3/protocol';
import type { P3Frame } from '@p3/client';
import { useServer } from './support/fixture.js';
import { frameWhere, frames } from './support/latch.js';
import { rawClient } from './support/raw-client.js';

describe('P3Client synchronization', () => {
  const t = useServer();

  it('[CLIENT-4] applies a corrected frame after a late input: history rebuilt from it, events delivered once', async () => {
    const p3 = t.client();
    await p3.connect();
    const events: GameEvent[] = [];
    const corrected: number[] = [];
    p3.on('event', (e) => events.push(e));
    p3.on('frame', (f) => {
      if (f.type === 'corrected') corrected.push(f.id);
    });
    // A bare peer sends what the SDK never would: an input stamped for a frame the room already simulated.
    const raw = await rawClient(t.server, t.room, 'late-peer');
    const avatar = '0190d7a0-0000-7000-8000-00000000abcd';
    raw.send({
      type: 'ops',
      stamp: 1,
      seq: 1,
      ops: [{ op: 'create', entityId: avatar, typeName: 'avatar', data: {} }],
    });
    await frameWhere(p3, (f) => f.getWorldEntity(avatar) !== undefined);
    await frames(p3, 3);
    raw.send({
      type: 'ops',
      stamp: 1,
      seq: 2,
      ops: [{ op: 'event', name: 'mark', eventType: 'test', data: 1 }],
    });
    const marked = await frameWhere(p3, (f) => f.events.some((e) => e.name === 'mark'));
    await frames(p3, 2);

    const late = marked.id - 1;
    raw.send({
      type: 'ops',
      stamp: 1,
      seq: 3,
      ops: [{ op: 'input', entityId: avatar, input: { right: true }, frame: late }],
    });
    const fix = await frameWhere(p3, (f) => f.type === 'corrected' && f.id === marked.id);
    expect(fix.events.map((e) => e.name)).toEqual(['mark']);
    await frameWhere(p3, (f) => f.type !== 'corrected');

    const x = (f: P3Frame | undefined) => f!.getWorldEntity(avatar)!.fields.x;
    const present = p3.getFrame(0)!;
    expect(x(present)).toBe(present.id - late + 1);
    expect(x(p3.getFrame(late - present.id))).toBe(1);
    expect(x(p3.getFrame(late - 1 - present.id))).toBe(0);
    expect(x(p3.getFrame(marked.id - present.id))).toBe(marked.id - late + 1);
    expect(corrected).toContain(late);
    expect(events.filter((e) => e.name === 'mark')).toHaveLength(1);
    raw.close();
  });

  it('[CLIENT-8] converges clock sync: the estimated server frame stays within 1 of the room’s', async () => {
    const p3 = t.client();
    await p3.connect();
    await frames(p3, 8); // the five quick pings are answered by now
    expect(p3.rtt).toBeGreaterThanOrEqual(0);
    const room = t.server.room(t.room)!;
    for (let i = 0; i < 5; i++) {
      await frames(p3, 1);
      expect(Math.abs(p3.serverFrame - room.world.frame)).toBeLessThanOrEqual(1);
    }
  });

  it('[CLIENT-7] interpolates `interpolate: true` fields between the two frames around (server time - delay)', async () => {
    let frozen: number | undefined;
    const p3 = t.client({ clock: { now: () => frozen ?? performance.now() } });
    await p3.connect();
    const id = p3.createEntity('avatar', { x: 0, color: 'blue' });
    p3.setInputState(id, { right: true });
    await frameWhere(p3, (f) => (f.getWorldEntity(id)?.fields.x as number) >= 7);

    // Everything below runs in one turn with the clock held still: no message is handled in between.
    frozen = performance.now();
    const a = p3.getFrame(-2)!;
    const b = p3.getFrame(-1)!;
    const xa = a.getWorldEntity(id)!.fields.x as number;
    const xb = b.getWorldEntity(id)!.fields.x as number;
    expect(xb).toBe(xa + 1);
    const target = (a.id + 0.25) * (1000 / p3.tickRate);
    const blended = p3.getInterpolatedEntities(p3.serverTime - target).find((e) => e.id === id)!;
    expect(blended.fields.x).toBeCloseTo(xa + 0.25, 6);
    expect(blended.fields.color).toBe('blue');
    const beyond = p3.getInterpolatedEntities(-10_000).find((e) => e.id === id)!;
    expect(beyond.fields.x).toBe(p3.getFrame(0)!.getWorldEntity(id)!.fields.x);
    const byDefault = p3.getInterpolatedEntities().find((e) => e.id === id)!.fields.x as number;
    expect(byDefault).toBeGreaterThanOrEqual(p3.getFrame(-4)!.getWorldEntity(id)!.fields.x as number);
    expect(byDefault).toBeLessThanOrEqual(p3.getFrame(0)!.getWorldEntity(id)!.fields.x as number);
    frozen = undefined;
  });

  it('[CLIENT-3] resyncs after a gap in frames and applies the catch-up', async () => {
    const p3 = t.client({ codec: 'json' });
    await p3.connect();
    await frames(p3, 2);
    const ids: number[] = [];
    p3.on('frame', (f) => ids.push(f.id));
    const room = t.server.room(t.room)!;
    // Frame F + 1 is lost; F + 2 names it as the frame it follows: a gap.
    t.server.skipFrames = 1;
    const at = room.world.frame;
    const lost = room.world.createEntity('note', { text: 'during the gap' });
    const after = room.world.createEntity('note', { text: 'after the gap' }, { frame: at + 2 });
    const caught = await frameWhere(p3, (f) => f.getWorldEntity(after) !== undefined);
    expect(caught.type).toBe('corrected');
    expect(caught.entities.map((e) => e.id)).toEqual(expect.arrayContaining([lost, after]));
    expect(p3.getEntity(lost)?.fields.text).toBe('during the gap');
    ids.forEach((id, i) => i === 0 || expect(id).toBeGreaterThan(ids[i - 1]!));
    // The stream goes on after the catch-up: the next frame applies at once.
    const later = room.world.createEntity('note', { text: 'later' });
    const applied = await frameWhere(p3, (f) => f.getWorldEntity(later) !== undefined);
    expect(applied.type).not.toBe('corrected');
    expect(applied.id).toBeGreaterThan(caught.id);
  });

  it('[CLIENT-20] a frame lost before an idle stretch is found by the next heartbeat: resync and catch-up', async () => {
    const p3 = t.client({ codec: 'json' });
    await p3.connect();
    await frames(p3, 2);
    const room = t.server.room(t.room)!;
    t.server.skipFrames = 1;
    // Nothing else changes after it: only a heartbeat follows the lost frame, and it names that frame as `prev`.
    const lost = room.world.createEntity('note', { text: 'lost, then silence' });
    const caught = await frameWhere(p3, (f) => f.getWorldEntity(lost) !== undefined);
    expect(caught.type).toBe('corrected');
    expect(t.server.frames(t.room).some((f) => f.entities.some((e) => e.id === lost))).toBe(true);
    // And the frame clock keeps moving afterwards, on heartbeats alone.
    const at = p3.getFrame(0)!.id;
    await frames(p3, 8);
    expect(p3.getFrame(0)!.id).toBeGreaterThanOrEqual(at + 8);
    expect(p3.getEntity(lost)?.fields.text).toBe('lost, then silence');
  });
});
