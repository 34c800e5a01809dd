import { describe, expect, it, vi } from 'vitest';
import { CloseCode, ErrorCode, type Frame } from '@p3/protocol';
import { IndexedDbOfflineStore, MemoryOfflineStore } from '@p3/client';
import { useServer } from './support/fixture.js';
import { frameWhere, frames, next } from './support/latch.js';

/** Distinct events named `name` the room applied (corrected frames re-send an event under the same id). */
const eventsNamed = (all: readonly Frame[], name: string) =>
  new Set(all.flatMap((f) => f.events.filter((e) => e.name === name).map((e) => e.id))).size;
const fast = { minDelayMs: 10, maxDelayMs: 40 };

describe('P3Client reconnects', () => {
  const t = useServer({
    refuse: (join) =>
      join.token === 'banned' ? { code: CloseCode.Unauthorized, reason: 'bad token' } : undefined,
  });

  it('[CLIENT-2] [CLIENT-13] resumes after the server drops the socket: delta welcome, same connection id, resumeFrame sent', async () => {
    const p3 = t.client({ reconnect: fast });
    await p3.connect();
    const note = p3.createEntity('note', { text: 'before' });
    await frameWhere(p3, (f) => f.getWorldEntity(note) !== undefined);
    const first = p3.connectionId;
    const held = p3.getFrame(0)!.id;

    const dropped = next(p3, 'disconnect');
    const back = next(p3, 'connect');
    t.server.drop();
    expect(await dropped).toMatchObject({ code: 1006, willReconnect: true });
    const other = t.server.room(t.room)!.world.createEntity('note', { text: 'while away' });
    const info = await back;
    expect(info).toMatchObject({ resumed: true, connectionId: first });
    expect(p3.connectionId).toBe(first);
    expect(t.server.joins.at(-1)!.resumeFrame).toBeGreaterThanOrEqual(held);
    // In a frame after the welcome, or already in the welcome's delta when the reconnect was slow (an idle room
    // sends no frame after it then).
    await vi.waitFor(() => expect(p3.getEntity(other)).toBeDefined(), { timeout: 8000 });
    expect(p3.getEntity(note)?.fields.text).toBe('before');
    expect(p3.getFrame(-1)).toBeDefined();
  });

  it('[CLIENT-11] queues ops made while disconnected and delivers each exactly once after the reconnect', async () => {
    const p3 = t.client({ reconnect: fast });
    await p3.connect();
    const mine = p3.createEntity('note', { text: 'v0' });
    await frameWhere(p3, (f) => f.getWorldEntity(mine) !== undefined);

    let offline = '';
    p3.on('disconnect', () => {
      // Runs before any reconnect can happen: these ops are made while disconnected.
      offline = p3.createEntity('note', { text: 'offline' });
      p3.updateEntity(mine, { text: 'v1' });
      p3.emitEvent({ name: 'offline-event', type: 'test' });
    });
    const back = next(p3, 'connect');
    t.server.drop();
    await back;
    expect(p3.getEntity(offline)?.fields.text).toBe('offline');
    // Acks come about once a second; an acknowledged op stops landing at the next frame or heartbeat ([CLIENT-20]).
    await vi.waitFor(() => expect(p3.pendingOps).toBe(0), { timeout: 3000 });
    await frames(p3, 3);
    const room = t.server.room(t.room)!;
    expect(room.world.entity(offline)?.get('text')).toBe('offline');
    expect(room.world.entity(mine)?.get('text')).toBe('v1');
    expect(room.world.entities('note').filter((e) => e.get('text') === 'offline')).toHaveLength(1);
    expect(eventsNamed(t.server.frames(t.room), 'offline-event')).toBe(1);
  });

  it('[CLIENT-12] persists the offline queue: a reload (new client, same store) resumes the client id and replays without duplicates', async () => {
    const store = new MemoryOfflineStore();
    const before = t.client({ offlineStore: store, reconnect: { minDelayMs: 5000, maxDelayMs: 5000 } });
    await before.connect();
    t.server.dropAcks = true;
    const applied = before.createEntity('note', { text: 'applied, never acked' });
    before.emitEvent({ name: 'once', type: 'test' });
    await vi.waitFor(() => expect(t.server.room(t.room)!.world.entity(applied)).toBeDefined());
    expect(store.peek()!.pending.map((p) => p.op.op)).toEqual(['create', 'event']);

    // The page goes away without a goodbye; one more op is made offline before it does.
    const gone = next(before, 'disconnect');
    t.server.drop();
    await gone;
    const offline = before.createEntity('note', { text: 'made offline' });
    await before.disconnect();
    expect(store.peek()!.pending).toHaveLength(3);
    t.server.dropAcks = false;

    const after = t.client({ offlineStore: store });
    await after.connect();
    expect(after.clientId).toBe(before.clientId);
    expect(after.connectionId).toBe(before.connectionId);
    // Acks come about once a second; an acknowledged op stops landing at the next frame or heartbeat ([CLIENT-20]).
    await vi.waitFor(() => expect(after.pendingOps).toBe(0), { timeout: 3000 });
    await frames(after, 3);
    const room = t.server.room(t.room)!;
    expect(room.world.entity(offline)?.get('text')).toBe('made offline');
    expect(room.world.entities('note').filter((e) => e.get('text') === 'applied, never acked')).toHaveLength(
      1,
    );
    expect(eventsNamed(t.server.frames(t.room), 'once')).toBe(1);
    expect(after.getEntity(offline)).toBeDefined();
    await vi.waitFor(() => expect(store.peek()!.pending).toEqual([]));
  });

  it('[CLIENT-13] stops on a terminal close code: connect() rejects, disconnect says willReconnect false, no retry', async () => {
    const p3 = t.client({ token: 'banned', reconnect: fast });
    const disconnected = next(p3, 'disconnect');
    await expect(p3.connect()).rejects.toMatchObject({ code: ErrorCode.Unauthorized });
    expect(await disconnected).toMatchObject({
      code: CloseCode.Unauthorized,
      reason: 'bad token',
      willReconnect: false,
    });
    expect(t.server.joins).toHaveLength(1);
    // Absence of a retry: wait well past the largest backoff, then count joins again.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(t.server.joins).toHaveLength(1);
    expect(() => p3.createEntity('note')).toThrow(/disconnected/);
  });

  it('[CLIENT-13] stops when an established session is closed with a terminal code', async () => {
    const p3 = t.client({ reconnect: fast });
    await p3.connect();
    const disconnected = next(p3, 'disconnect');
    t.server.closeAll(CloseCode.Forbidden, 'go away');
    expect(await disconnected).toMatchObject({ code: CloseCode.Forbidden, willReconnect: false });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(t.server.joins).toHaveLength(1);
    expect(p3.connected).toBe(false);
  });

  it.each(['binary', 'json'] as const)(
    '[CLIENT-14] reports malformed server bytes as error events and keeps working (%s)',
    async (codec) => {
      const p3 = t.client({ codec });
      await p3.connect();
      const error = next(p3, 'error');
      t.server.sendRaw(codec === 'binary' ? new Uint8Array([0xff, 0x00, 0x13]) : '{"type":"frame","frame":');
      expect((await error).code).toMatch(/MALFORMED|UNKNOWN_MESSAGE_TYPE|TRUNCATED|INVALID_MESSAGE/);
      const note = p3.createEntity('note', { text: 'still here' });
      await frameWhere(p3, (f) => f.getWorldEntity(note)?.fields.text === 'still here');
      expect(p3.connected).toBe(true);
    },
  );

  it('[CLIENT-12] survives an offline store that cannot work here (IndexedDB in Node): error event, then connects', async () => {
    const store = new IndexedDbOfflineStore('p3-test');
    await expect(store.load()).rejects.toMatchObject({ code: ErrorCode.Internal });
    const p3 = t.client({ offlineStore: store, autoConnect: false });
    const error = next(p3, 'error', (e) => /offline store/.test(e.message));
    await p3.connect();
    await error;
    const note = p3.createEntity('note', { text: 'ok' });
    await frameWhere(p3, (f) => f.getWorldEntity(note) !== undefined);
  });
});
