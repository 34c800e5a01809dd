import { decodeIdToken, encodeIdToken } from '../src/id-token.js';
import fc from 'fast-check';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { requireNats, uniqueName } from '@p3/test-support';
import { capped } from '@p3/test-support/property';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RoomKey } from '@p3/runtime';
import { JetStreamRoomLog } from '../src/adapters/jetstream-room-log.js';
import { describeRoomLogContract, type RoomLogHarness } from './room-log.contract.js';

// One stream and subject prefix for this run (cases use rooms of their own), deleted at the end.
const stream = uniqueName('p3t');
const subjectPrefix = uniqueName('p3t');
let admin: NatsConnection | undefined;

beforeAll(async () => {
  admin = await requireNats();
});

afterAll(async () => {
  if (admin === undefined) return;
  const jsm = await jetstreamManager(admin);
  await jsm.streams.delete(stream).catch(() => undefined);
  await admin.close();
});

/** A log that opens (and on close drains) a connection of its own, as a simulator process does. */
const openLog = () => JetStreamRoomLog.open({ servers: '127.0.0.1:4222', stream, subjectPrefix });

async function harness(): Promise<RoomLogHarness> {
  await requireNats().then((nc) => nc.close()); // a clear message when NATS is down
  let latest = await openLog();
  return {
    log: latest,
    // A restart: a new process, a new connection, the same stream.
    reopen: async () => {
      await latest.close();
      latest = await openLog();
      return latest;
    },
    dispose: () => latest.close(),
  };
}

// No torn-tail ability: a PubAck is atomic, a message is stored whole or not at all.
describeRoomLogContract('jetstream', harness, { durable: true });

const room = (name: string): RoomKey => ({
  tenant: 't',
  room: `${name}-${Math.random().toString(36).slice(2)}`,
});

/** The record versions (or `T<through>` for truncation markers) stored on a subject, in stream order. */
async function storedOnSubject(subject: string): Promise<string[]> {
  const nc = admin as NatsConnection;
  const consumer = await jetstream(nc).consumers.get(stream, { filter_subjects: subject });
  const seen: string[] = [];
  let pending = (await consumer.info(true)).num_pending;
  while (pending > 0) {
    for await (const m of await consumer.fetch({ max_messages: pending, expires: 2000 })) {
      const through = m.headers?.get('P3-Truncate');
      seen.push(through ? `T${through}` : (m.headers?.get('P3-Version') ?? '?'));
      pending = m.info.pending;
    }
  }
  await consumer.delete();
  return seen;
}

describe('JetStreamRoomLog', () => {
  it('[JSLOG-1] encodes any id as one valid subject token, injectively (property)', () => {
    const id = fc.oneof(
      fc.string({ unit: 'binary' }), // any UTF-16 code unit, lone surrogates included
      fc.string({ unit: fc.constantFrom('.', '*', '>', ' ', '~', 'a', '0', '_', '-', 'é', '🎮', '\u0000') }),
    );
    fc.assert(
      fc.property(id, id, (a, b) => {
        const [ta, tb] = [encodeIdToken(a), encodeIdToken(b)];
        expect(ta).toMatch(/^[A-Za-z0-9_~-]+$/);
        expect(decodeIdToken(ta)).toBe(a);
        expect(ta === tb).toBe(a === b);
      }),
      capped({ numRuns: 500 }, 1000),
    );
    expect(encodeIdToken('lobby.1')).toBe('lobby~002e1');
    expect(encodeIdToken('')).toBe('~');
    expect(encodeIdToken('~')).toBe('~007e');
  });

  it('[JSLOG-2] two logs on one stream (two processes) never see each other’s rooms; either can read a room after failover', async () => {
    const [a, b] = [await openLog(), await openLog()];
    // Ids that would collide if tenant and room were joined naively with dots.
    const x: RoomKey = { tenant: `a.b-${Math.random()}`, room: 'c' };
    const y: RoomKey = { tenant: 'a', room: `b.c-${x.tenant.slice(4)}` };
    const z: RoomKey = { tenant: 'a', room: '*' };
    await Promise.all(
      Array.from({ length: 10 }, (_, i) => [
        a.append(x, i + 1, `x${i + 1}`),
        b.append(y, i + 1, `y${i + 1}`),
        b.append(z, i + 1, `z${i + 1}`),
      ]).flat(),
    );
    await a.truncate(x, 5);
    const expected = (name: string, from: number) =>
      Array.from({ length: 10 - from + 1 }, (_, i) => ({ version: from + i, data: `${name}${from + i}` }));
    expect(await a.read(x, 0)).toEqual(expected('x', 6));
    expect(await b.read(y, 0)).toEqual(expected('y', 1));
    expect(await b.read(z, 0)).toEqual(expected('z', 1));
    // Failover: b takes over a's room and reads what a acknowledged.
    await a.close();
    expect(await b.read(x, 0)).toEqual(expected('x', 6));
    await b.close();
  });

  it('[JSLOG-3] 200 concurrent appends of one room resolve and are stored in call order', async () => {
    const log = await openLog();
    const k = room('order');
    const resolved: number[] = [];
    await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        log.append(k, i + 1, { i }).then(() => void resolved.push(i + 1)),
      ),
    );
    const inOrder = Array.from({ length: 200 }, (_, i) => i + 1);
    expect(resolved).toEqual(inOrder);
    expect(await storedOnSubject(log.subjectOf(k))).toEqual(inOrder.map(String));
    expect((await log.read(k, 0)).map((e) => e.version)).toEqual(inOrder);
    await log.close();
  });

  it('[JSLOG-4] truncate purges the records it hid, and everything once nothing is live', async () => {
    const log = await openLog();
    const k = room('purge');
    for (let version = 1; version <= 5; version += 1) await log.append(k, version, version);
    await log.append(k, 2, 'retried'); // behind version 5 in the stream: only the marker can hide it
    await log.truncate(k, 3);
    expect(await storedOnSubject(log.subjectOf(k))).toEqual(['4', '5', '2', 'T3']);
    expect(await log.read(k, 0)).toEqual([
      { version: 4, data: 4 },
      { version: 5, data: 5 },
    ]);
    await log.truncate(k, 5);
    expect(await storedOnSubject(log.subjectOf(k))).toEqual([]);
    await log.append(k, 6, 'after'); // expects an empty subject again
    expect(await log.read(k, 0)).toEqual([{ version: 6, data: 'after' }]);
    await log.close();
  });

  it('[JSLOG-5] an append interleaved by a second writer of the same room rejects instead of mixing logs', async () => {
    const [first, second] = [await openLog(), await openLog()];
    const k = room('fence');
    await first.append(k, 1, 'first');
    await second.append(k, 2, 'second');
    await expect(first.append(k, 3, 'stale')).rejects.toThrow(/wrong last sequence/);
    expect(await second.read(k, 0)).toEqual([
      { version: 1, data: 'first' },
      { version: 2, data: 'second' },
    ]);
    await Promise.all([first.close(), second.close()]);
  });

  it('[JSLOG-6] close leaves a connection it was given open', async () => {
    const nc = await requireNats();
    const log = await JetStreamRoomLog.open({ connection: nc, stream, subjectPrefix });
    await log.append(room('given'), 1, 'x');
    await log.close();
    expect(nc.isClosed()).toBe(false);
    await nc.close();
  });
});
