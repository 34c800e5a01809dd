import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { requireNats, requirePostgres, uniqueName } from '@p3/test-support';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RoomKey, SaveOutcome, SnapshotStore, StoredSnapshot } from '../src/ports/snapshot-store.js';
import { JetStreamSnapshotStore } from '../src/adapters/jetstream-snapshot-store.js';
import { PostgresSnapshotStore } from '../src/adapters/postgres-snapshot-store.js';
import { snapshotSubject } from '../src/adapters/snapshot-stream.js';
import { describeSnapshotStoreContract } from './snapshot-store.contract.js';

// One stream, subject prefix and Postgres table for this run (cases use rooms of their own), removed at the end.
const stream = uniqueName('p3t');
const prefix = uniqueName('p3t');
const table = uniqueName('p3t_snapshots').toLowerCase();
const streams = [stream];
let admin: NatsConnection | undefined;
let pool: pg.Pool | undefined;
/** The persister's view: writes Postgres rows directly, as the persister does after consuming the stream. */
let postgres: PostgresSnapshotStore;

beforeAll(async () => {
  admin = await requireNats();
  pool = await requirePostgres();
  postgres = new PostgresSnapshotStore({ pool, table });
  await postgres.migrate();
});

afterAll(async () => {
  if (admin !== undefined) {
    const jsm = await jetstreamManager(admin);
    for (const name of streams) await jsm.streams.delete(name).catch(() => undefined);
    await admin.close();
  }
  if (pool !== undefined) {
    await pool.query(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
    await pool.end();
  }
});

/** A store with a connection of its own (drained on close), as a simulator process has. */
function open(
  options: { durable?: SnapshotStore; stream?: string; prefix?: string } = {},
): Promise<JetStreamSnapshotStore> {
  return JetStreamSnapshotStore.open({
    connection: { servers: '127.0.0.1:4222', reconnect: false },
    durable: options.durable ?? postgres,
    stream: options.stream ?? stream,
    prefix: options.prefix ?? prefix,
  });
}

describeSnapshotStoreContract('jetstream + postgres', () => open());

const room = (name: string): RoomKey => ({
  tenant: 't',
  room: `${name}-${Math.random().toString(36).slice(2)}`,
});
const world = (epoch: number, version: number, data: unknown = `${epoch}/${version}`): StoredSnapshot => ({
  kind: 'world',
  epoch,
  version,
  data,
});

async function streamHas(key: RoomKey, name = stream, subjectPrefix = prefix): Promise<boolean> {
  const jsm = await jetstreamManager(admin as NatsConnection);
  return (await jsm.streams.getMessage(name, { last_by_subj: snapshotSubject(subjectPrefix, key) })) !== null;
}

describe('JetStreamSnapshotStore', () => {
  it('[JSSNAP-2] load returns the newer of the stream and Postgres, and Postgres alone for a room not in the stream', async () => {
    const store = await open();
    const k = room('both');
    await postgres.save(k, world(1, 1, 'persisted'));
    expect(await store.save(k, world(1, 2, 'in stream'))).toBe('saved');
    expect(await store.load(k)).toEqual(world(1, 2, 'in stream'));
    // The persister caught up with something newer (or the stream lost it): Postgres wins.
    await postgres.save(k, world(2, 1, 'newer in postgres'));
    expect(await store.load(k)).toEqual(world(2, 1, 'newer in postgres'));

    const onlyPostgres = room('pg-only');
    await postgres.save(onlyPostgres, { ...world(3, 7, { a: [1] }), team: 'blue' });
    expect(await streamHas(onlyPostgres)).toBe(false);
    expect(await store.load(onlyPostgres)).toEqual({ ...world(3, 7, { a: [1] }), team: 'blue' });
    await store.close();
  });

  it('[JSSNAP-3] a save older than the Postgres row is stale even when the stream has nothing for the room', async () => {
    const store = await open();
    const k = room('fenced-by-pg');
    await postgres.save(k, world(2, 5, 'persisted'));
    expect(await store.save(k, world(2, 4))).toBe('stale');
    expect(await store.save(k, world(1, 9))).toBe('stale');
    expect(await streamHas(k)).toBe(false);
    // Same (epoch, version) counts as newer-or-equal, as `isNewer` says.
    expect(await store.save(k, world(2, 5, 'again'))).toBe('saved');
    expect(await store.load(k)).toEqual(world(2, 5, 'again'));
    await store.close();
  });

  it('[JSSNAP-4] two simulators racing 20 saves of one room: the newest (epoch, version) wins, the rest are stale', async () => {
    const a = await open();
    const b = await open();
    const k = room('race');
    // Versions 1..20 interleaved across the two stores; odd indexes belong to the later epoch.
    const saves = Array.from({ length: 20 }, (_, i) => ({
      store: i % 2 === 0 ? a : b,
      epoch: 1 + (i % 2),
      version: i + 1,
    }));
    const outcomes = await Promise.all(saves.map((s) => s.store.save(k, world(s.epoch, s.version))));
    expect(outcomes.every((o) => o === 'saved' || o === 'stale')).toBe(true);
    expect(await a.load(k)).toEqual(world(2, 20));
    expect(outcomes[19]).toBe('saved');
    // Epoch 2's saves come in increasing order from one store: each is newer than anything before it.
    expect(outcomes.filter((_, i) => i % 2 === 1).every((o) => o === 'saved')).toBe(true);
    await Promise.all([a.close(), b.close()]);
  });

  it("[JSSNAP-4] a save that lands between another simulator's read and publish makes that publish re-read and go stale", async () => {
    // The deposed owner's store reads the stream, then waits in the Postgres read while its successor saves.
    let release: () => void = () => undefined;
    let entered: () => void = () => undefined;
    const paused = new Promise<void>((resolve) => (release = resolve));
    const inWindow = new Promise<void>((resolve) => (entered = resolve));
    let gate = true;
    const gatedDurable: SnapshotStore = {
      load: async (key) => {
        if (gate) {
          gate = false;
          entered();
          await paused;
        }
        return postgres.load(key);
      },
      save: (key, snapshot) => postgres.save(key, snapshot),
      close: async () => undefined,
    };
    const deposed = await open({ durable: gatedDurable });
    const successor = await open();
    const k = room('window');
    expect(await successor.save(k, world(1, 1))).toBe('saved');
    const late: Promise<SaveOutcome> = deposed.save(k, world(1, 2, 'deposed'));
    await inWindow;
    expect(await successor.save(k, world(2, 1, 'successor'))).toBe('saved');
    release();
    expect(await late).toBe('stale');
    expect(await successor.load(k)).toEqual(world(2, 1, 'successor'));
    await Promise.all([deposed.close(), successor.close()]);
  });

  it('[JSSNAP-5] the stream keeps one message per room', async () => {
    const own = uniqueName('p3t');
    streams.push(own);
    const store = await open({ stream: own, prefix: own });
    const rooms = [room('one'), room('two'), room('three')];
    for (let version = 1; version <= 4; version += 1)
      await Promise.all(rooms.map((k) => store.save(k, world(1, version))));
    const jsm = await jetstreamManager(admin as NatsConnection);
    const info = await jsm.streams.info(own);
    expect(info.state.messages).toBe(rooms.length);
    expect(info.state.num_subjects).toBe(rooms.length);
    for (const k of rooms) expect(await store.load(k)).toEqual(world(1, 4));
    await store.close();
  });
});
