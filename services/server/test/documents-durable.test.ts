import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { EventSource } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { CloseCode, ErrorCode, type AckResponse, type JsonValue } from '@p3/protocol';
import {
  DocumentRooms,
  FileRoomLog,
  FileSnapshotStore,
  MemoryRoomLog,
  MemorySnapshotStore,
  type LogEntry,
  type RoomKey,
  type RoomLog,
} from '@p3/runtime';
import { P3Server } from '@p3/server';
import { EcsSyncTestClient, until } from '@p3/test-support';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const logger = pino({ level: 'silent' });
type DocumentRoom = Extract<Awaited<ReturnType<DocumentRooms['open']>>, { ok: true }>['value'];

async function openRoom(rooms: DocumentRooms, id: string): Promise<DocumentRoom> {
  const opened = await rooms.open(id, undefined);
  if (!opened.ok) throw opened.error;
  return opened.value;
}

/** An ecs-sync client on an in-process socket of the room (what /ecs-sync does, minus uWS). */
function connect(room: DocumentRoom, client: EcsSyncTestClient): { closeCodes: number[] } {
  const sessionId = randomUUID();
  const closeCodes: number[] = [];
  void room.handleSocketConnect({
    sessionId,
    clientId: client.clientId,
    socket: {
      send: (text) => client.receive(text),
      close: (code) => {
        closeCodes.push(code ?? 1000);
        client.closed();
      },
    },
  });
  client.opened((text) => room.handleSocketMessage(sessionId, text));
  return { closeCodes };
}

async function acked(client: EcsSyncTestClient, messageId: string | undefined): Promise<number> {
  const ack = await client.waitFor((m): m is AckResponse => m.type === 'ack' && m.messageId === messageId);
  return ack.timestamp;
}

describe('document rooms with a durable room log', () => {
  it('acked changes survive a process that dies without closing (no final save), and versions are not re-issued', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'p3-doc-durable-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const store = new FileSnapshotStore(join(dir, 'snapshots'));
    const firstLog = await FileRoomLog.open({ dir: join(dir, 'log') });
    cleanups.push(() => firstLog.close());
    // A long save throttle: nothing reaches the snapshot store before the "crash".
    const first = new DocumentRooms({
      store,
      log: firstLog,
      tenant: 'default',
      logger,
      saveThrottleMs: 60_000,
    });
    // Only once the test is over (cleanups run in reverse): stops the abandoned room's timers.
    cleanups.push(() => first.close());
    const room = await openRoom(first, 'notes');

    const alice = new EcsSyncTestClient('alice');
    connect(room, alice);
    await alice.sync();
    const versions = [
      await acked(alice, alice.edit({ 'n1/Text': { body: 'one' } })),
      await acked(alice, alice.edit({ 'n2/Text': { body: 'two' }, 'n1/Text': { body: 'one!' } })),
    ];
    // What `POST /changes` does before it answers.
    const posted = room.applyPatches(
      [{ 'n3/Text': { body: 'three' } }, { 'n2/Text': { _exists: false } }],
      'http:bob',
    );
    await room.whenDurable(posted);
    versions.push(posted);
    expect(versions).toEqual([1, 2, 3]);
    const before = room.getSnapshot();

    // The process dies: `first` is dropped without close() (no final save); a new process opens the same files.
    expect(await store.load({ tenant: 'default', room: 'doc/notes' })).toBeNull();
    const secondLog = await FileRoomLog.open({ dir: join(dir, 'log') });
    cleanups.push(() => secondLog.close());
    const second = new DocumentRooms({
      store: new FileSnapshotStore(join(dir, 'snapshots')),
      log: secondLog,
      tenant: 'default',
      logger,
      saveThrottleMs: 60_000,
    });
    cleanups.push(() => second.close());
    const recovered = await openRoom(second, 'notes');
    expect(recovered.getSnapshot()).toEqual(before);
    expect(recovered.getVersion()).toBe(Math.max(...versions));

    // The client comes back with its last acknowledged version: nothing is missing, nothing is repeated.
    alice.closed();
    connect(recovered, alice);
    await alice.sync();
    expect(alice.document()).toEqual({
      'n1/Text': { _exists: true, body: 'one!' },
      'n3/Text': { _exists: true, body: 'three' },
    });
    const next = await acked(alice, alice.edit({ 'n4/Text': { body: 'four' } }));
    expect(next).toBeGreaterThan(Math.max(...versions));
  });

  it('a failed append closes the sockets with 4005, answers nothing for the change, and the room reloads from storage + log', async () => {
    const inner = new MemoryRoomLog();
    let refuse = false;
    const log: RoomLog = {
      append: (key: RoomKey, version: number, data: JsonValue) =>
        refuse ? Promise.reject(new Error('disk gone')) : inner.append(key, version, data),
      read: (key, after) => inner.read(key, after),
      truncate: (key, through) => inner.truncate(key, through),
      close: () => inner.close(),
    };
    const rooms = new DocumentRooms({
      store: new MemorySnapshotStore(),
      log,
      tenant: 'default',
      logger,
      saveThrottleMs: 60_000,
    });
    cleanups.push(() => rooms.close());
    const room = await openRoom(rooms, 'notes');
    const kept = room.applyPatches([{ a: { x: 1 } }], 'http');
    await room.whenDurable(kept);

    const alice = new EcsSyncTestClient('alice');
    const socket = connect(room, alice);
    await alice.sync();
    refuse = true;
    const lost = room.applyPatches([{ a: { x: 2 } }], 'http');
    await expect(room.whenDurable(lost)).rejects.toThrow('disk gone');
    expect(socket.closeCodes).toEqual([CloseCode.Internal]);
    expect(alice.received.some((m) => m.type === 'patch' && m.timestamp === lost)).toBe(false);

    refuse = false;
    const reloaded = await openRoom(rooms, 'notes');
    expect(reloaded).not.toBe(room);
    expect(reloaded.getSnapshot().state).toEqual({ a: { _exists: true, x: 1 } });
    expect(reloaded.getVersion()).toBe(kept);
  });
});

/** A room log whose appends wait until the test releases them (or fails the oldest). */
class HeldRoomLog implements RoomLog {
  private readonly inner = new MemoryRoomLog();
  private readonly pending: {
    run: () => Promise<void>;
    resolve: () => void;
    reject: (e: unknown) => void;
  }[] = [];

  get pendingCount(): number {
    return this.pending.length;
  }

  append(key: RoomKey, version: number, data: JsonValue): Promise<void> {
    return new Promise((resolve, reject) =>
      this.pending.push({ run: () => this.inner.append(key, version, data), resolve, reject }),
    );
  }

  async release(): Promise<void> {
    for (const append of this.pending.splice(0)) {
      await append.run();
      append.resolve();
    }
  }

  failOldest(): void {
    this.pending.shift()?.reject(new Error('disk gone'));
  }

  read(key: RoomKey, after: number): Promise<LogEntry[]> {
    return this.inner.read(key, after);
  }

  truncate(key: RoomKey, through: number): Promise<void> {
    return this.inner.truncate(key, through);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

describe('the HTTP API of document rooms with a durable room log', () => {
  it('answers POST /changes, sends SSE events and streams a bootstrap only once what they show is durable', async () => {
    const log = new HeldRoomLog();
    const server = await new P3Server({
      port: 0,
      host: '127.0.0.1',
      storage: new MemorySnapshotStore(),
      log,
      logLevel: 'silent',
      documents: { saveThrottleMs: 60_000 },
    }).listen();
    cleanups.push(() => server.close());
    const base = `http://127.0.0.1:${server.port}/v1/rooms`;
    const post = (room: string, patches: unknown[]) =>
      fetch(`${base}/${room}/changes`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ patches }),
      });
    // A full round trip on the same server: had it answered early, that answer would be here by now.
    const barrier = async () => void (await (await fetch(`${base}/other/bootstrap`)).text());
    const settled = <T>(promise: Promise<T>) => {
      const state = { done: false };
      void promise.then(
        () => (state.done = true),
        () => (state.done = true),
      );
      return state;
    };

    const events: { id: string; version: number }[] = [];
    const source = new EventSource(`${base}/notes/sync`);
    cleanups.push(async () => source.close());
    source.addEventListener('change', (e) => {
      const message = e as MessageEvent<string>;
      events.push({
        id: message.lastEventId,
        version: (JSON.parse(message.data) as { version: number }).version,
      });
    });
    await new Promise((resolve) => source.addEventListener('open', resolve));

    const answer = post('notes', [{ a: { x: 1 } }]);
    const answered = settled(answer);
    await until(() => log.pendingCount === 1, 5000, 'the append');
    await barrier();
    expect(answered.done).toBe(false);
    expect(events).toEqual([]);
    await log.release();
    const response = await answer;
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ room: 'notes', version: 1 });
    await until(() => events.length === 1, 5000, 'the event');
    expect(events).toEqual([{ id: '1', version: 1 }]);

    // The bootstrap reads version 2 before it is durable: it waits for it.
    const second = post('notes', [{ a: { x: 2 } }]);
    await until(() => log.pendingCount === 1, 5000, 'the second append');
    const bootstrap = fetch(`${base}/notes/bootstrap`);
    const bootstrapped = settled(bootstrap);
    await barrier();
    expect(bootstrapped.done).toBe(false);
    await log.release();
    expect((await second).status).toBe(200);
    const body = (await (await bootstrap).json()) as {
      version: number;
      objects: { key: string; data: unknown }[];
    };
    expect(body.version).toBe(2);
    expect(body.objects).toEqual([
      { key: 'a', data: { _exists: true, x: 2 }, versions: { _exists: 1, x: 2 } },
    ]);

    // A resumed stream: the diff shows version 3, so it waits for it.
    const third = post('notes', [{ c: { z: 1 } }]);
    await until(() => log.pendingCount === 1, 5000, 'the third append');
    const resumed: { id: string; data: { version: number; resumedFrom?: number } }[] = [];
    const again = new EventSource(`${base}/notes/sync?lastEventId=1`);
    cleanups.push(async () => again.close());
    again.addEventListener('change', (e) => {
      const message = e as MessageEvent<string>;
      resumed.push({ id: message.lastEventId, data: JSON.parse(message.data) as { version: number } });
    });
    await new Promise((resolve) => again.addEventListener('open', resolve));
    await barrier();
    expect(resumed).toEqual([]);
    await log.release();
    expect((await third).status).toBe(200);
    await until(() => resumed.length === 1 && events.length === 3, 5000, 'the resume and the live event');
    expect(resumed[0]).toMatchObject({ id: '3', data: { version: 3, resumedFrom: 1 } });
    expect(events.map((e) => e.id)).toEqual(['1', '2', '3']);

    // A change the log refuses is not acknowledged: 500, and the room reloads from its log on the next request.
    const refused = post('notes', [{ a: { x: 3 } }]);
    await until(() => log.pendingCount === 1, 5000, 'the refused append');
    log.failOldest();
    const failure = await refused;
    expect(failure.status).toBe(500);
    expect(await failure.json()).toEqual({
      code: ErrorCode.Internal,
      reason: expect.stringMatching(/may not have been kept/),
    });
    const after = post('notes', [{ b: { y: 1 } }]);
    await until(() => log.pendingCount === 1, 5000, 'the fourth append');
    await log.release();
    expect(await (await after).json()).toEqual({ room: 'notes', version: 4 });
    const state = (await (await fetch(`${base}/notes/bootstrap`)).json()) as {
      objects: { key: string; data: unknown }[];
    };
    expect(state.objects.map((o) => [o.key, o.data])).toEqual([
      ['a', { _exists: true, x: 2 }],
      ['c', { _exists: true, z: 1 }],
      ['b', { _exists: true, y: 1 }],
    ]);
  });
});
