import { describe, expect, it, vi } from 'vitest';
import { WebSocket } from 'ws';
import { ErrorCode, P3Error, type GameEvent } from '@p3/protocol';
import type { P3Frame } from '@p3/client';
import { useServer } from './support/fixture.js';
import { frameWhere, frames, next, thrown } from './support/latch.js';
import { world } from './support/world.js';

const codeOf = (error: unknown) => (error instanceof P3Error ? error.code : error);

describe.each(['binary', 'json'] as const)('P3Client over %s', (codec) => {
  const t = useServer();

  it('[CLIENT-1] connects, adopts the welcome and lists entities', async () => {
    const seeded = (await t.server.rooms.open({ tenant: 'default', room: t.room })).world.createEntity(
      'note',
      { text: 'hello' },
    );
    const p3 = t.client({ codec, transport: WebSocket });
    const connected = next(p3, 'connect');
    await p3.connect();
    const info = await connected;
    expect(info).toMatchObject({ resumed: false });
    expect(p3.connected).toBe(true);
    expect(p3.connectionId).toBe(info.connectionId);
    expect(p3.tickRate).toBe(20);
    await frameWhere(p3, (f) => f.getWorldEntity(seeded) !== undefined);
    expect(p3.getEntities()).toEqual([
      { id: seeded, typeName: 'note', owner: null, fields: { text: 'hello', size: 0 }, input: {} },
    ]);
  });

  it('[CLIENT-3] two clients see each other’s entities and updates, frames in order without gaps', async () => {
    const a = t.client({ codec });
    const b = t.client({ codec });
    await Promise.all([a.connect(), b.connect()]);
    const seen: number[] = [];
    b.on('frame', (f) => {
      if (f.type !== 'corrected') seen.push(f.id);
    });
    const id = a.createEntity('avatar', { x: 5, color: 'blue' });
    await frameWhere(b, (f) => f.getWorldEntity(id) !== undefined);
    expect(b.getEntity(id)).toEqual({
      id,
      typeName: 'avatar',
      owner: a.connectionId,
      fields: { x: 5, color: 'blue', hp: 100 },
      input: {},
    });
    a.updateEntity(id, { x: 9 });
    a.setInputState(id, { right: true });
    await frameWhere(b, (f) => f.getWorldEntity(id)?.input.right === true);
    expect(b.getEntity(id)!.fields.x).toBeGreaterThanOrEqual(9);
    // While the avatar moves, every tick changes something: every frame is sent, in order.
    const moving = seen.length;
    await frameWhere(b, (f) => (f.getWorldEntity(id)?.fields.x as number) >= 14);
    expect(seen.length - moving).toBeGreaterThan(2);
    seen.slice(moving).forEach((frameId, i, all) => i === 0 || expect(frameId).toBe(all[i - 1]! + 1));
    // Empty ticks before were skipped ([CLIENT-20]): frame events come in order, and the held history has no hole.
    seen.forEach((frameId, i) => i === 0 || expect(frameId).toBeGreaterThan(seen[i - 1]!));
    const latest = b.getFrame(0)!.id;
    for (let k = 1; k <= 5; k++) expect(b.getFrame(-k)?.id).toBe(latest - k);
  });

  it('[CLIENT-10] round-trips create, update, input, event and delete, optimistic at once and authoritative after', async () => {
    const p3 = t.client({ codec });
    await p3.connect();
    const events: GameEvent[] = [];
    p3.on('event', (e) => events.push(e));

    const id = p3.createEntity('note', { text: 'draft', size: 2.5 });
    expect(p3.getEntity(id)?.fields).toEqual({ text: 'draft', size: 2.5 });
    expect(p3.getFrame(0)!.getWorldEntity(id)).toBeUndefined();
    await frameWhere(p3, (f) => f.getWorldEntity(id)?.fields.text === 'draft');

    expect(p3.updateEntity(id, { text: 'final' })).toBe(id);
    expect(p3.getEntity(id)?.fields.text).toBe('final');
    await frameWhere(p3, (f) => f.getWorldEntity(id)?.fields.text === 'final');
    expect(t.server.room(t.room)!.world.entity(id)!.get('text')).toBe('final');

    const avatar = p3.createEntity('avatar');
    p3.setInputState(avatar, { right: true });
    expect(p3.getEntity(avatar)?.input).toEqual({ right: true });
    await frameWhere(p3, (f) => (f.getWorldEntity(avatar)?.fields.x as number) >= 2);
    p3.setInputState(avatar, { right: false });
    await frameWhere(p3, (f) => f.getWorldEntity(avatar)?.input.right === false);

    p3.emitEvent({ name: 'boom', type: 'fx', data: { power: 3 } });
    const event = await next(p3, 'event', (e) => e.name === 'boom');
    expect(event).toMatchObject({ name: 'boom', type: 'fx', data: { power: 3 } });
    expect(event.originalFrame).toBeGreaterThan(0);

    p3.deleteEntity(id);
    expect(p3.getEntity(id)).toBeUndefined();
    await frameWhere(p3, (f) => f.removed.includes(id));
    expect(t.server.room(t.room)!.world.entity(id)).toBeUndefined();
    expect(events.filter((e) => e.name === 'boom')).toHaveLength(1);
    // Acks are batched (a few per second): every op is acknowledged soon after it was applied.
    await vi.waitFor(() => expect(p3.pendingOps).toBe(0), { timeout: 3000 });
  });
});

describe('P3Client writes', () => {
  const t = useServer();

  it('[CLIENT-10] counts a key tapped and released within one send interval: held for one frame', async () => {
    const p3 = t.client();
    await p3.connect();
    const avatar = p3.createEntity('avatar');
    await frameWhere(p3, (f) => f.getWorldEntity(avatar) !== undefined);
    // Both changes go out in the same batch (the client sends at sendRate).
    p3.setInputState(avatar, { right: true });
    p3.setInputState(avatar, { right: false });
    await frameWhere(p3, (f) => f.getWorldEntity(avatar)?.fields.x === 1);
    await vi.waitFor(() => expect(p3.pendingOps).toBe(0), { timeout: 3000 });
    const server = t.server.room(t.room)!.world.entity(avatar)!;
    expect([server.get('x'), server.input]).toEqual([1, { right: false }]);
  });

  it('[CLIENT-9] clamps numbers to min/max before sending and refuses what the schema forbids with engine codes', async () => {
    const p3 = t.client();
    await p3.connect();
    const id = p3.createEntity('avatar', { x: 500_000, color: 'green' });
    expect(p3.getEntity(id)?.fields.x).toBe(100_000);
    await frameWhere(p3, (f) => f.getWorldEntity(id) !== undefined);
    expect(t.server.room(t.room)!.world.entity(id)!.get('x')).toBe(100_000);
    const note = p3.createEntity('note', { size: -3 });
    expect(p3.getEntity(note)?.fields.size).toBe(0);

    expect(codeOf(thrown(() => p3.updateEntity(id, { color: 'red' })))).toBe(ErrorCode.SeedField);
    expect(codeOf(thrown(() => p3.updateEntity(id, { hp: 1 })))).toBe(ErrorCode.AccessDenied);
    expect(codeOf(thrown(() => p3.createEntity('avatar', { hp: 1 })))).toBe(ErrorCode.AccessDenied);
    expect(codeOf(thrown(() => p3.updateEntity(id, { nope: 1 })))).toBe(ErrorCode.UnknownField);
    expect(codeOf(thrown(() => p3.updateEntity(id, { secret: 'x' })))).toBe(ErrorCode.UnknownField);
    expect(codeOf(thrown(() => p3.updateEntity(id, { x: 'far' })))).toBe(ErrorCode.FieldType);
    expect(codeOf(thrown(() => p3.createEntity('ghost', {})))).toBe(ErrorCode.UnknownEntityType);
    expect(codeOf(thrown(() => p3.updateEntity('not-a-uuid', {})))).toBe(ErrorCode.InvalidEntityId);
    expect(codeOf(thrown(() => p3.setInputState(id, { up: 1 } as never)))).toBe(ErrorCode.FieldType);
    expect(codeOf(thrown(() => p3.emitEvent({ name: '', type: 'x' })))).toBe(ErrorCode.InvalidMessage);
  });

  it('[CLIENT-10] surfaces server rejections as reject events with engine codes and rolls the optimistic value back', async () => {
    const a = t.client();
    const b = t.client();
    await Promise.all([a.connect(), b.connect()]);
    const id = a.createEntity('note', { text: 'mine' });
    await frameWhere(b, (f) => f.getWorldEntity(id)?.fields.text === 'mine');

    const rejected = next(b, 'reject');
    b.updateEntity(id, { text: 'theirs' });
    expect(b.getEntity(id)?.fields.text).toBe('theirs');
    expect(b.getFrame(1)!.getWorldEntity(id)?.fields.text).toBe('theirs');
    const reject = await rejected;
    expect(reject).toMatchObject({
      code: ErrorCode.NotOwner,
      op: { op: 'update', entityId: id, data: { text: 'theirs' } },
    });
    expect(b.getEntity(id)?.fields.text).toBe('mine');
    expect(b.getFrame(1)!.getWorldEntity(id)?.fields.text).toBe('mine');

    const missing = '0190d7a0-0000-7000-8000-0000000000ff';
    const notFound = next(b, 'reject');
    b.deleteEntity(missing);
    expect((await notFound).code).toBe(ErrorCode.EntityNotFound);
    expect(t.server.room(t.room)!.world.entity(id)!.get('text')).toBe('mine');
  });
});

describe('P3Client frames', () => {
  const t = useServer();

  it('[CLIENT-5] getFrame: 0 is the latest authoritative frame, -n a held past frame, +n a predicted one', async () => {
    const p3 = t.client();
    await p3.connect();
    const note = p3.createEntity('note', { text: 'v1' });
    await frameWhere(p3, (f) => f.getWorldEntity(note) !== undefined);
    await frames(p3, 4);

    const present = p3.getFrame(0)!;
    expect(present.type === 'verified' || present.type === 'generated').toBe(true);
    expect(present.time).toBe(present.id * 50);
    expect(p3.getFrame(-3)!.id).toBe(present.id - 3);
    expect(p3.getFrame(-1000)).toBeUndefined();
    expect(Object.isFrozen(present.getWorldEntity(note))).toBe(true);

    p3.updateEntity(note, { text: 'v2' });
    const predicted = p3.getFrame(1)!;
    expect(predicted).toMatchObject({ id: present.id + 1, type: 'predicted' });
    expect(predicted.getWorldEntity(note)?.fields.text).toBe('v2');
    expect(predicted.entities).toEqual([{ id: note, typeName: 'note', fields: { text: 'v2' } }]);
    expect(p3.getFrame(3)).toMatchObject({ id: present.id + 3, type: 'predicted' });
    expect(p3.getFrame(3)!.getWorldEntity(note)?.fields.text).toBe('v2');
    expect(p3.getFrame(0)!.getWorldEntity(note)?.fields.text).toBe('v1');
    expect(() => p3.getFrame(0.5)).toThrow(RangeError);
    expect(() => p3.getFrame(10_000)).toThrow(RangeError);

    await frameWhere(p3, (f) => f.getWorldEntity(note)?.fields.text === 'v2');
    const earlier = p3.getFrame(-2)!;
    expect(earlier.getWorldEntities().find((e) => e.id === note)?.fields.text).toBe('v1');
  });

  it('[CLIENT-6] predicts with the world definition: a held input moves the predicted x ahead of the present', async () => {
    const p3 = t.client({ world });
    await p3.connect();
    const id = p3.createEntity('avatar', { x: 10 });
    expect(p3.getFrame(2)!.getWorldEntity(id)?.fields.x).toBe(10);
    await frameWhere(p3, (f) => f.getWorldEntity(id) !== undefined);

    p3.setInputState(id, { right: true });
    const x = (f: P3Frame | undefined) => f!.getWorldEntity(id)!.fields.x as number;
    expect(x(p3.getFrame(10))).toBeGreaterThan(x(p3.getFrame(0)));

    await frameWhere(p3, (f) => f.getWorldEntity(id)?.input.right === true);
    await frames(p3, 1);
    expect(x(p3.getFrame(5)) - x(p3.getFrame(0))).toBe(5);
    expect(p3.getFrame(5)!.entities).toEqual([{ id, typeName: 'avatar', fields: { x: x(p3.getFrame(5)) } }]);
  });

  it('[CLIENT-14] keeps delivering frames when a listener throws, and reports it as an error event', async () => {
    const p3 = t.client();
    await p3.connect();
    p3.on('frame', () => {
      throw new Error('listener bug');
    });
    const error = next(p3, 'error');
    const avatar = p3.createEntity('avatar');
    expect((await error).cause).toEqual(new Error('listener bug'));
    p3.setInputState(avatar, { right: true });
    await frameWhere(p3, (f) => (f.getWorldEntity(avatar)?.fields.x as number) >= 3);
  });
});
