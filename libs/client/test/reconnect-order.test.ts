import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { P3Client, type ConnectInfo } from '@p3/client';
import {
  ErrorCode,
  PROTOCOL_VERSION,
  type ClientMessage,
  type EntityUpdate,
  type FrameMessage,
  type JoinMessage,
  type Op,
  type OpsMessage,
  type P3Error,
  type WelcomeMessage,
  type WorldSchema,
} from '@p3/protocol';
import { next } from './support/latch.js';
import { startScriptedServer, type ScriptedServer, type ScriptedSocket } from './support/scripted-server.js';

/**
 * Seed 002's reconnect order ([CLIENT-2]) against a server the test scripts message by message: what the client
 * sends on the new socket and when, and what it does with what the server sends before and with the welcome.
 */

const room = 'scripted';
const connectionId = 'conn-1';
const shared = '0190d7a0-0000-7000-8000-000000000001';
const tickRate = 20;
const schema: WorldSchema = {
  note: {
    fields: {
      text: { dataType: 'string', accessControl: 'client' },
      size: { dataType: 'number', min: 0, max: 10, accessControl: 'client' },
    },
  },
};

const welcome = (
  state: Pick<WelcomeMessage, 'frame' | 'lastSeq' | 'delta' | 'entities'>,
): WelcomeMessage => ({
  type: 'welcome',
  protocolVersion: PROTOCOL_VERSION,
  connectionId,
  room,
  schema,
  tickRate,
  bufferFrame: 20,
  serverTime: state.frame * (1000 / tickRate),
  removed: [],
  ...state,
});

const frame = (id: number, entities: EntityUpdate[] = []): FrameMessage => ({
  type: 'frame',
  frame: { id, type: 'verified', time: id * (1000 / tickRate), events: [], entities, removed: [] },
});

const sharedText = (text: string): EntityUpdate => ({ id: shared, typeName: 'note', fields: { text } });

interface SentOp {
  readonly stamp: number;
  readonly seq: number;
  readonly through: number | undefined;
  readonly op: Op;
}

/** The ops in `messages`, one entry per op with its (stamp, seq), in the order they were sent. */
const sentOps = (messages: readonly ClientMessage[]): SentOp[] =>
  messages
    .filter((m): m is OpsMessage => m.type === 'ops')
    .flatMap((m) => m.ops.map((op, i) => ({ stamp: m.stamp, seq: m.seq + i, through: m.through, op })));

const seqs = (messages: readonly ClientMessage[]) => sentOps(messages).map((o) => o.seq);

/**
 * A latch on the client's processing of the socket: the server sends an `error` message (delivered at once, in
 * every phase) and waits for the client to emit it. Everything sent before it has been handled by then.
 */
async function handled(p3: P3Client, socket: ScriptedSocket, label: string): Promise<void> {
  const reason = `marker:${label}`;
  const seen = next(p3, 'error', (e) => e.message === reason);
  socket.send({ type: 'error', code: ErrorCode.Internal, reason });
  await seen;
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('P3Client reconnect order against a scripted server', () => {
  let server: ScriptedServer;
  const clients: P3Client[] = [];

  beforeEach(async () => {
    server = await startScriptedServer();
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.disconnect()));
    await server.close();
  });

  it('[CLIENT-2] [CLIENT-11] join with resumeFrame, pending ops drained behind it before the welcome, frames queued until the delta welcome, then connect once', async () => {
    const p3 = new P3Client({
      host: server.host,
      port: server.port,
      instanceId: room,
      codec: 'json',
      autoConnect: false,
      reconnect: { minDelayMs: 10, maxDelayMs: 20 },
      // Stamped ops, to tell them from the unstamped replay behind the join.
      inputDelayFrames: 'auto',
    });
    clients.push(p3);
    const timeline: string[] = [];
    const connects: ConnectInfo[] = [];
    const errors: P3Error[] = [];
    p3.on('frame', (f) => timeline.push(`frame ${f.id}`));
    p3.on('connect', (info) => {
      connects.push(info);
      timeline.push(`connect ${info.frame}`);
    });
    p3.on('disconnect', (d) => timeline.push(`disconnect ${d.code}`));
    p3.on('error', (e) => {
      if (!e.message.startsWith('marker:')) errors.push(e);
    });

    // ---- First session: a fresh welcome at frame 10, then frame 11 (the last frame the client will hold).
    const connecting = p3.connect();
    const first = await server.nextSocket();
    await first.until((r) => r.length >= 1, 'the first join');
    const join1 = first.received[0] as JoinMessage;
    expect(join1).toMatchObject({ type: 'join', room, clientId: p3.clientId });
    expect(join1.resumeFrame).toBeUndefined();
    const stamp = join1.sessionStamp;
    first.send(
      welcome({
        frame: 10,
        lastSeq: 0,
        delta: false,
        entities: [
          { id: shared, typeName: 'note', created: true, owner: null, fields: { text: 'v1', size: 0 } },
        ],
      }),
    );
    await connecting;
    const held11 = next(p3, 'frame', (f) => f.id === 11);
    first.send(frame(11));
    await held11;

    // Ops the server receives and never acknowledges.
    const a = p3.createEntity('note', { text: 'a' });
    const b = p3.createEntity('note', { text: 'b' });
    await first.until((r) => seqs(r).includes(2), 'ops 1-2 on the first socket');
    const sentFirst = sentOps(first.received);
    expect(sentFirst.map((o) => [o.stamp, o.seq])).toEqual([
      [stamp, 1],
      [stamp, 2],
    ]);
    // Stamped on a synced socket (contrast with the unstamped replay below).
    for (const o of sentFirst) expect(o.op.frame).toBeTypeOf('number');

    // ---- The server drops the socket; ops made while disconnected join the queue.
    let c = '';
    let connectedOffline: boolean | undefined;
    const disconnected = new Promise<void>((resolve) => {
      const once = () => {
        p3.off('disconnect', once);
        // Runs inside the close handling, before any reconnect attempt: the client is offline here.
        connectedOffline = p3.connected;
        c = p3.createEntity('note', { text: 'c' });
        p3.updateEntity(a, { text: 'a2' });
        resolve();
      };
      p3.on('disconnect', once);
    });
    first.drop();
    await disconnected;
    expect(connectedOffline).toBe(false);
    expect(p3.pendingOps).toBe(4);

    // ---- Reconnect: the server records everything and holds its welcome back.
    const second = await server.nextSocket();
    await second.until((r) => seqs(r).includes(4), 'the pending ops behind the join');
    await delay(50); // the welcome is late: whatever else the client sends before it arrives meanwhile

    // (c) Frames sent before the welcome are queued, not applied: the marker proves they reached the client.
    // Frame 12 follows the held frame 11: a client that did not queue would apply it at once.
    second.send(frame(12, [sharedText('stale 12')]));
    second.send(frame(15, [sharedText('stale 15')]));
    second.send(frame(16, [sharedText('f16')]));
    second.send(frame(17, [sharedText('f17')]));
    await handled(p3, second, 'frames before the welcome');
    expect(timeline).toEqual(['connect 10', 'frame 11', 'disconnect 1006']);
    expect(p3.connected).toBe(false);
    expect(p3.getFrame(0)?.id).toBe(11);
    expect(p3.getEntity(shared)?.fields).toEqual({ text: 'v1', size: 0 });

    // (a) + (b): everything the client sent before the welcome went out: join first, then the pending ops.
    const beforeWelcome = [...second.received];
    expect(second.undecodable).toEqual([]);
    expect(beforeWelcome[0]).toEqual({
      type: 'join',
      protocolVersion: PROTOCOL_VERSION,
      room,
      clientId: p3.clientId,
      sessionStamp: stamp,
      resumeFrame: 11,
    });
    expect(beforeWelcome.slice(1).map((m) => m.type)).toEqual(beforeWelcome.slice(1).map(() => 'ops'));
    const replayed = sentOps(beforeWelcome);
    // In sequence order, each once: the two sent before the drop, then the two made offline.
    expect(replayed.map((o) => [o.stamp, o.seq])).toEqual([
      [stamp, 1],
      [stamp, 2],
      [stamp, 3],
      [stamp, 4],
    ]);
    // Unstamped: the clock is not synced on the new socket (no op frame, no `through`).
    for (const o of replayed) {
      expect(o.through).toBeUndefined();
      expect(o.op.frame).toBeUndefined();
    }
    const unstamped = ({ frame: _frame, ...op }: Op) => op;
    expect(replayed.slice(0, 2).map((o) => o.op)).toEqual(sentFirst.map((o) => unstamped(o.op)));
    expect(replayed[0]!.op).toMatchObject({
      op: 'create',
      entityId: a,
      typeName: 'note',
      data: { text: 'a' },
    });
    expect(replayed[1]!.op).toMatchObject({
      op: 'create',
      entityId: b,
      typeName: 'note',
      data: { text: 'b' },
    });
    expect(replayed[2]!.op).toMatchObject({
      op: 'create',
      entityId: c,
      typeName: 'note',
      data: { text: 'c' },
    });
    expect(replayed[3]!.op).toEqual({ op: 'update', entityId: a, data: { text: 'a2' } });

    // ---- (d) The delta welcome at frame 15: it has applied ops 1-2 (lastSeq 2) and changed the shared note.
    const frame16 = next(p3, 'frame', (f) => f.id === 16);
    const connected = next(p3, 'connect');
    second.send(
      welcome({
        frame: 15,
        lastSeq: 2,
        delta: true,
        entities: [
          { id: shared, typeName: 'note', fields: { text: 'delta', size: 5 } },
          { id: a, typeName: 'note', created: true, owner: connectionId, fields: { text: 'a', size: 0 } },
          { id: b, typeName: 'note', created: true, owner: connectionId, fields: { text: 'b', size: 0 } },
        ],
      }),
    );
    const info = await connected;
    const at16 = await frame16;

    // (f) connect once, after the welcome and the queued frames, as a resumed session.
    expect(info).toEqual({ connectionId, resumed: true, frame: 15 });
    expect(timeline).toEqual([
      'connect 10',
      'frame 11',
      'disconnect 1006',
      'frame 16',
      'frame 17',
      'connect 15',
    ]);
    // The delta first (frame 16 is built on it: size 5 and the created notes), then 16 and 17 in order; 12 and
    // 15 (covered by the welcome) were dropped.
    expect(at16.getWorldEntity(shared)?.fields).toEqual({ text: 'f16', size: 5 });
    expect(at16.getWorldEntity(a)).toMatchObject({ owner: connectionId, fields: { text: 'a' } });
    expect(p3.getFrame(0)?.id).toBe(17);
    expect(p3.getFrame(-1)?.id).toBe(16);
    expect(p3.getFrame(-2)?.getWorldEntity(shared)?.fields).toEqual({ text: 'delta', size: 5 });
    expect(p3.getFrame(0)?.getWorldEntity(shared)?.fields).toEqual({ text: 'f17', size: 5 });
    expect(p3.getFrame(-3)).toBeUndefined();

    // (e) lastSeq 2 settled ops 1-2; ops 3-4 stay pending (and optimistic) until the server acks them.
    expect(p3.pendingOps).toBe(2);
    expect(p3.getEntity(c)?.fields.text).toBe('c');
    expect(p3.getEntity(a)?.fields.text).toBe('a2');
    const afterWelcome = second.received.length;
    second.send({ type: 'ack', stamp, seq: 4 });
    await handled(p3, second, 'ack 4');
    expect(p3.pendingOps).toBe(0);

    // Nothing is resent: the next op goes out alone, with the next sequence number, stamped again.
    const d = p3.createEntity('note', { text: 'd' });
    await second.until((r) => seqs(r.slice(afterWelcome)).includes(5), 'op 5');
    const later = sentOps(second.received.slice(afterWelcome));
    expect(later.map((o) => [o.stamp, o.seq])).toEqual([[stamp, 5]]);
    expect(later[0]!.op).toMatchObject({ op: 'create', entityId: d });
    expect(later[0]!.op.frame).toBeTypeOf('number');
    expect(second.received.slice(afterWelcome).filter((m) => m.type === 'join')).toEqual([]);

    expect(connects).toHaveLength(2);
    expect(connects[0]).toEqual({ connectionId, resumed: false, frame: 10 });
    expect(errors).toEqual([]);
    expect(second.undecodable).toEqual([]);
  });
});
