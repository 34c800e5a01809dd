import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { P3Client, type P3Frame } from '@p3/client';
import {
  PROTOCOL_VERSION,
  type ClientMessage,
  type EntityUpdate,
  type FrameMessage,
  type WelcomeMessage,
} from '@p3/protocol';
import { useServer } from './support/fixture.js';
import { frameWhere, frames, next } from './support/latch.js';
import { startScriptedServer, type ScriptedServer, type ScriptedSocket } from './support/scripted-server.js';
import { world } from './support/world.js';

// Idle rooms send nothing but heartbeats ([CLIENT-20]..[CLIENT-22] in SPEC.md): skipped frames are not gaps, the
// frame clock advances, an idle client sends one `cover` per idle stretch, and reads work across empty stretches.

const room = 'scripted-idle';
const tickRate = 20;
const interval = 1000 / tickRate;
const AVATAR = '0190d7a0-0000-7000-8000-0000000000aa';

const welcome: WelcomeMessage = {
  type: 'welcome',
  protocolVersion: PROTOCOL_VERSION,
  connectionId: 'conn-1',
  room,
  schema: world.schema,
  tickRate,
  bufferFrame: 20,
  frame: 10,
  serverTime: 10 * interval,
  lastSeq: 0,
  delta: false,
  entities: [],
  removed: [],
};

const frame = (id: number, entities: EntityUpdate[] = [], prev?: number): FrameMessage => ({
  type: 'frame',
  frame: { id, type: 'verified', time: id * interval, events: [], entities, removed: [] },
  ...(prev === undefined ? {} : { prev }),
});

const of = <T extends ClientMessage['type']>(received: readonly ClientMessage[], type: T) =>
  received.filter((m): m is Extract<ClientMessage, { type: T }> => m.type === type);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('P3Client and an idle room (scripted server)', () => {
  let server: ScriptedServer;
  const clients: P3Client[] = [];

  beforeEach(async () => {
    server = await startScriptedServer();
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.disconnect()));
    await server.close();
  });

  async function joined(): Promise<{ p3: P3Client; socket: ScriptedSocket; ids: number[] }> {
    const p3 = new P3Client({ host: server.host, port: server.port, instanceId: room, codec: 'json' });
    clients.push(p3);
    const ids: number[] = [];
    p3.on('frame', (f) => ids.push(f.id));
    const socket = await server.nextSocket();
    await socket.until((r) => r.some((m) => m.type === 'join'), 'the join');
    socket.send(welcome);
    await p3.connect();
    return { p3, socket, ids };
  }

  it('[CLIENT-20] a heartbeat or a skipped stretch is not a gap: the frame clock advances; a missed message is', async () => {
    const { p3, socket, ids } = await joined();
    socket.send({ type: 'idle', prev: 10, through: 40 });
    const created: EntityUpdate = {
      id: AVATAR,
      typeName: 'avatar',
      created: true,
      owner: null,
      fields: { x: 3 },
    };
    socket.send(frame(45, [created], 40));
    await next(p3, 'frame', (f) => f.id === 45);
    // No frame event for the empty frames, but they are held: the history is contiguous, on the world before.
    expect(ids).toEqual([45]);
    expect(p3.getFrame(0)!.id).toBe(45);
    const before = p3.getFrame(-1)!;
    expect(before).toMatchObject({ id: 44, type: 'verified', entities: [], removed: [] });
    expect(before.time).toBe(44 * interval);
    expect(before.getWorldEntity(AVATAR)).toBeUndefined();
    expect(p3.getFrame(-20)!.id).toBe(25);
    // A frame after the latest one held (prev 45) applies; a heartbeat moves the clock without a frame event.
    socket.send(frame(50, [{ id: AVATAR, typeName: 'avatar', fields: { x: 4 } }], 45));
    socket.send({ type: 'idle', prev: 50, through: 80 });
    await frames(p3, 35);
    expect(p3.getFrame(0)!.id).toBe(80);
    expect(p3.getFrame(0)!.getWorldEntity(AVATAR)?.fields.x).toBe(4);
    expect(ids).toEqual([45, 50]);
    expect(of(socket.received, 'resync')).toEqual([]);
    // Frame 90 is lost: the heartbeat after it names it as `prev`, so the client resyncs from what it holds.
    socket.send({ type: 'idle', prev: 90, through: 120 });
    await socket.until((r) => of(r, 'resync').length === 1, 'a resync');
    expect(of(socket.received, 'resync')).toEqual([{ type: 'resync', frame: 80 }]);
    expect(p3.getFrame(0)!.id).toBe(80);
    const caught = next(p3, 'frame', (f) => f.id === 120);
    socket.send({
      type: 'catchup',
      from: 80,
      to: 120,
      full: false,
      entities: [{ id: AVATAR, typeName: 'avatar', fields: { x: 9 } }],
      removed: [],
    });
    expect((await caught).getWorldEntity(AVATAR)?.fields.x).toBe(9);
    // A lost frame followed by a frame is a gap too.
    socket.send(frame(130, [], 125));
    await socket.until((r) => of(r, 'resync').length === 2, 'a second resync');
    expect(of(socket.received, 'resync')[1]).toEqual({ type: 'resync', frame: 120 });
  });

  it('[CLIENT-10] ops an ack lists missing go out again at once, also when the client has fallen idle', async () => {
    const { p3, socket } = await joined();
    const id = p3.createEntity('avatar', { x: 1 });
    await socket.until((r) => of(r, 'ops').length === 1, 'the create');
    p3.updateEntity(id, { x: 2 });
    await socket.until((r) => of(r, 'ops').length === 2, 'the update');
    socket.send(frame(11, [{ id, typeName: 'avatar', created: true, owner: 'conn-1', fields: { x: 2 } }]));
    // Idle: the cover went, no timer of the client is due any more.
    await socket.until((r) => of(r, 'cover').length === 1, 'the idle cover');
    const [create] = of(socket.received, 'ops');
    // The room has the update but not the create before it: it acks nothing and lists the create missing.
    socket.send({
      type: 'ack',
      stamp: create!.stamp,
      seq: create!.seq - 1,
      missing: [[create!.seq, create!.seq]],
    });
    await socket.until((r) => of(r, 'ops').length === 3, 'the resend');
    const resent = of(socket.received, 'ops')[2]!;
    expect(resent.seq).toBe(create!.seq);
    expect(resent.ops.map((o) => o.op)).toEqual(['create']);
  });

  it('[CLIENT-21] an idle owner sends one cover when it falls idle, not one per send interval', async () => {
    const { p3, socket } = await joined();
    const id = p3.createEntity('avatar', { x: 1 });
    await socket.until((r) => of(r, 'ops').length === 1, 'the create');
    socket.send(frame(11, [{ id, typeName: 'avatar', created: true, owner: 'conn-1', fields: { x: 1 } }]));
    await socket.until((r) => of(r, 'cover').length === 1, 'the idle cover');
    const [cover] = of(socket.received, 'cover');
    const ops = of(socket.received, 'ops')[0]!;
    expect(cover!.through).toBeGreaterThanOrEqual(ops.through ?? 0);
    // Half a second idle (ten send intervals): nothing more.
    await sleep(500);
    expect(of(socket.received, 'cover')).toHaveLength(1);
    expect(of(socket.received, 'ops')).toHaveLength(1);
    // Active again, then idle again: one more cover.
    p3.updateEntity(id, { x: 2 });
    await socket.until((r) => of(r, 'ops').length === 2, 'the update');
    await socket.until((r) => of(r, 'cover').length === 2, 'the next idle cover');
    await sleep(300);
    expect(of(socket.received, 'cover')).toHaveLength(2);
    // A client that owns nothing sends no cover at all.
    const other = new P3Client({ host: server.host, port: server.port, instanceId: room, codec: 'json' });
    clients.push(other);
    const socket2 = await server.nextSocket();
    await socket2.until((r) => r.some((m) => m.type === 'join'), 'the join');
    socket2.send({ ...welcome, connectionId: 'conn-2' });
    await other.connect();
    await sleep(300);
    expect(of(socket2.received, 'cover')).toEqual([]);
  });
});

describe('P3Client and an idle room (RoomHost)', () => {
  const t = useServer();

  it('[CLIENT-22] reads across an idle stretch: entities rest where they are, then move on from there', async () => {
    let frozen: number | undefined;
    const p3 = t.client({ world, clock: { now: () => frozen ?? performance.now() } });
    await p3.connect();
    const x = (f: P3Frame | undefined) => f!.getWorldEntity(id)!.fields.x as number;
    const id = p3.createEntity('avatar', { x: 0 });
    p3.setInputState(id, { right: true });
    await frameWhere(p3, (f) => (f.getWorldEntity(id)?.fields.x as number) >= 3);
    p3.setInputState(id, { right: false });
    await frameWhere(p3, (f) => f.getWorldEntity(id)?.input.right === false);
    const rest = x(p3.getFrame(0));
    const sent = t.server.broadcasts(t.room).length;
    await frames(p3, 15);
    // The room sent no frame meanwhile, only heartbeats; the client's frame clock followed them.
    const quiet = t.server.broadcasts(t.room).slice(sent);
    expect(quiet.filter((m) => m.type === 'frame')).toEqual([]);
    expect(quiet.filter((m) => m.type === 'idle').length).toBeGreaterThanOrEqual(1);
    // Every held frame, the interpolated view and the predictions have the avatar at rest.
    for (let k = 0; k <= 10; k++) expect(x(p3.getFrame(-k))).toBe(rest);
    expect(p3.getInterpolatedEntities().find((e) => e.id === id)?.fields.x).toBe(rest);
    expect([x(p3.getFrame(1)), x(p3.getFrame(5))]).toEqual([rest, rest]);
    // Moving again: the frame before the first move is the empty one at rest, so interpolation starts from there.
    p3.setInputState(id, { right: true });
    expect(x(p3.getFrame(5))).toBeGreaterThan(rest);
    const moved = await frameWhere(p3, (f) => x(f) === rest + 1);
    frozen = performance.now();
    const before = p3.getFrame(moved.id - p3.getFrame(0)!.id - 1)!;
    expect([before.id, x(before)]).toEqual([moved.id - 1, rest]);
    const halfway = p3.getInterpolatedEntities(p3.serverTime - (moved.id - 0.5) * interval);
    expect(halfway.find((e) => e.id === id)?.fields.x).toBeCloseTo(rest + 0.5, 6);
    frozen = undefined;
  });
});
