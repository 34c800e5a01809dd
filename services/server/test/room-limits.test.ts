import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { CloseCode, ErrorCode, PROTOCOL_VERSION } from '@p3/protocol';
import { JwtAuthenticator } from '@p3/gateway';
import {
  ConfigError,
  FileRoomLog,
  MemorySnapshotStore,
  type RoomKey,
  type SaveOutcome,
  type SnapshotStore,
  type StoredSnapshot,
} from '@p3/runtime';
import { P3Server } from '@p3/server';
import { defaultSimulatorConfig, simulatorConfigFromEnv } from '@p3/simulator';
import { RawClient, mintToken, testJwtSecret, until, waitFor } from '@p3/test-support';

const servers: P3Server[] = [];
const clients: RawClient[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of servers.splice(0)) await s.close();
});
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function joinRoom(
  server: P3Server,
  room: string,
  clientId: string,
  token?: string,
): Promise<RawClient> {
  const client = await RawClient.open(`ws://127.0.0.1:${server.port}/v1/connect`);
  clients.push(client);
  client.send({
    type: 'join',
    protocolVersion: PROTOCOL_VERSION,
    room,
    clientId,
    sessionStamp: 1,
    ...(token === undefined ? {} : { token }),
  });
  return client;
}

const http = (server: P3Server) => `http://127.0.0.1:${server.port}`;

async function metric(server: P3Server, name: string): Promise<number> {
  const text = await (await fetch(`${http(server)}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ').at(-1)) : Number.NaN;
}

describe('room limits (P3_MAX_ROOMS, P3_MAX_MEMBERS_PER_ROOM)', () => {
  it('[ROOM-2] has bounded defaults, read from the environment (0: no limit), invalid values refused', () => {
    expect(defaultSimulatorConfig).toMatchObject({ maxRooms: 1000, maxMembersPerRoom: 500 });
    expect(simulatorConfigFromEnv({})).toMatchObject({ maxRooms: 1000, maxMembersPerRoom: 500 });
    expect(simulatorConfigFromEnv({ P3_MAX_ROOMS: '0', P3_MAX_MEMBERS_PER_ROOM: '12' })).toMatchObject({
      maxRooms: 0,
      maxMembersPerRoom: 12,
    });
    expect(() => simulatorConfigFromEnv({ P3_MAX_MEMBERS_PER_ROOM: '-1' })).toThrow(ConfigError);
    expect(() => simulatorConfigFromEnv({ P3_MAX_ROOMS: 'lots' })).toThrow(/P3_MAX_ROOMS/);
  });

  it('[ROOM-2] refuses a member of a full room with 4104 and a room beyond the limit with 4105, each with a reason', async () => {
    const server = new P3Server({
      port: 0,
      host: '127.0.0.1',
      instanceId: 'lobby',
      storage: 'memory',
      logLevel: 'silent',
      // The default instance is one of the two rooms.
      simulator: { maxRooms: 2, maxMembersPerRoom: 2 },
      documents: { maxRooms: 1 },
    });
    servers.push(await server.listen());
    await (await joinRoom(server, 'a', 'ann')).next('welcome');
    await (await joinRoom(server, 'a', 'bob')).next('welcome');
    const carl = await joinRoom(server, 'a', 'carl');
    expect(await carl.next('error')).toEqual({
      type: 'error',
      code: ErrorCode.RoomFull,
      reason: 'room a is full (2 members)',
    });
    expect(await carl.closed()).toEqual({ code: CloseCode.RoomFull, reason: 'room a is full (2 members)' });
    const dan = await joinRoom(server, 'b', 'dan');
    const refused = await dan.next('error');
    expect(refused.code).toBe(ErrorCode.QuotaExceeded);
    expect(refused.reason).toMatch(/at most 2 rooms/);
    expect((await dan.closed()).code).toBe(CloseCode.QuotaExceeded);
    // Document rooms have their own bound.
    expect((await fetch(`${http(server)}/v1/rooms/one/bootstrap`)).status).toBe(200);
    const full = await fetch(`${http(server)}/v1/rooms/two/bootstrap`);
    const body = (await full.json()) as { code: string; reason: string };
    expect([full.status, body.code]).toEqual([503, ErrorCode.QuotaExceeded]);
    expect(body.reason).toMatch(/at most 1 document rooms/);
  });

  it('[ROOM-1] a room clients only joined or read writes nothing: no snapshot, no log record (file storage)', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'p3-unchanged-'));
    dirs.push(dataDir);
    const server = new P3Server({
      port: 0,
      host: '127.0.0.1',
      instanceId: 'lobby',
      dataDir,
      logLevel: 'silent',
      auth: new JwtAuthenticator({ secret: testJwtSecret, audience: 'p3' }),
      simulator: { idleTimeoutMs: 200, resumeGraceMs: 100, snapshotIntervalMs: 100 },
      documents: { idleTimeoutMs: 200, saveThrottleMs: 0 },
    });
    servers.push(await server.listen());
    const token = await mintToken({ team: 'blue' });
    const probe = await joinRoom(server, 'probe', 'ann', token);
    await probe.next('welcome');
    // A room whose ticks change nothing sends a heartbeat instead of frames ([IDLE-2]).
    await probe.nextNew('idle');
    probe.close();
    expect((await fetch(`${http(server)}/v1/rooms/notes/bootstrap?token=${token}`)).status).toBe(200);
    // The world room closes for being idle (after the grace period); the server stops (closing the rest).
    await waitFor(
      () => metric(server, 'p3_simulator_rooms'),
      (n) => n === 1,
      'the probe room to close',
      5000,
    );
    await server.close();
    servers.splice(servers.indexOf(server), 1);
    expect(await readdir(join(dataDir, 'default')).catch(() => [])).toEqual([]);
    const log = await FileRoomLog.open({ dir: join(dataDir, 'log') });
    for (const room of ['blue/probe', 'probe', 'doc/blue/notes', 'doc/notes', 'lobby'])
      expect(await log.read({ tenant: 'default', room }, 0)).toEqual([]);
    await log.close();
  });
});

/** A memory store whose saves fail while `failing`. */
class FlakyStore implements SnapshotStore {
  private readonly inner = new MemorySnapshotStore();
  failing = true;
  attempts = 0;
  load(key: RoomKey): Promise<StoredSnapshot | null> {
    return this.inner.load(key);
  }
  async save(key: RoomKey, snapshot: StoredSnapshot): Promise<SaveOutcome> {
    this.attempts++;
    if (this.failing) throw new Error('EIO: i/o error, write');
    return this.inner.save(key, snapshot);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

describe('storage health', () => {
  it('[ROOM-5] failing snapshot saves make /readyz answer 503, are logged once, and readiness returns once a save works', async () => {
    const store = new FlakyStore();
    const lines: Array<{ level: number; msg: string }> = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
    const server = new P3Server({
      port: 0,
      host: '127.0.0.1',
      instanceId: 'lobby',
      storage: store,
      durability: 'snapshot',
      logger,
      simulator: { snapshotIntervalMs: 100 },
    });
    server.createEntityType('note', { fields: { text: { dataType: 'string', accessControl: 'client' } } });
    servers.push(await server.listen());
    const ready = async () => (await fetch(`${http(server)}/readyz`)).status;
    expect(await ready()).toBe(200);
    server.createEntity('note', { text: 'must be saved' });
    await waitFor(ready, (status) => status === 503, 'readiness to fail', 5000);
    await until(() => store.attempts >= 4, 5000, 'several failed saves');
    const saveErrors = () => lines.filter((l) => l.level >= 50 && /snapshot/.test(l.msg));
    expect(saveErrors()).toHaveLength(1);
    expect(saveErrors()[0]?.msg).toMatch(/snapshot saves are failing/);
    store.failing = false;
    await waitFor(ready, (status) => status === 200, 'readiness to return', 5000);
    expect(saveErrors()).toHaveLength(1);
    expect(lines.some((l) => l.msg === 'snapshot saves succeed again')).toBe(true);
  });
});
