import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { P3Client } from '@p3/client';
import {
  PROTOCOL_VERSION,
  type ClientMessage,
  type FrameMessage,
  type ResyncMessage,
  type WelcomeMessage,
} from '@p3/protocol';
import { next } from './support/latch.js';
import { startScriptedServer, type ScriptedServer } from './support/scripted-server.js';

// [CLIENT-15] A resync whose catch-up never comes is sent again: the client does not stay frozen with its inbox
// growing behind the gap.

const room = 'scripted';
const tickRate = 20;

const welcome: WelcomeMessage = {
  type: 'welcome',
  protocolVersion: PROTOCOL_VERSION,
  connectionId: 'conn-1',
  room,
  schema: { note: { fields: { text: { dataType: 'string', accessControl: 'client' } } } },
  tickRate,
  bufferFrame: 20,
  frame: 10,
  serverTime: 10 * (1000 / tickRate),
  lastSeq: 0,
  delta: false,
  entities: [],
  removed: [],
};

const frame = (id: number): FrameMessage => ({
  type: 'frame',
  frame: { id, type: 'verified', time: id * (1000 / tickRate), events: [], entities: [], removed: [] },
});

const resyncs = (received: readonly ClientMessage[]) =>
  received.filter((m): m is ResyncMessage => m.type === 'resync');

describe('P3Client catch-up timeout', () => {
  let server: ScriptedServer;
  const clients: P3Client[] = [];

  beforeEach(async () => {
    server = await startScriptedServer();
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.disconnect()));
    await server.close();
  });

  it('[CLIENT-15] sends resync again when its catch-up is lost, then applies the catch-up and the frames queued behind it', async () => {
    const p3 = new P3Client({
      host: server.host,
      port: server.port,
      instanceId: room,
      codec: 'json',
      autoConnect: false,
    });
    clients.push(p3);
    const ids: number[] = [];
    p3.on('frame', (f) => ids.push(f.id));
    const connecting = p3.connect();
    const socket = await server.nextSocket();
    await socket.until((r) => r.some((m) => m.type === 'join'), 'the join');
    socket.send(welcome);
    await connecting;
    socket.send(frame(11));
    // Frame 12 is lost: 13 makes a gap, the client asks for a catch-up from 11, which is lost too.
    socket.send(frame(13));
    await socket.until((r) => resyncs(r).length === 1, 'the first resync');
    expect(resyncs(socket.received)[0]).toEqual({ type: 'resync', frame: 11 });
    socket.send(frame(14));
    const startedAt = Date.now();
    await socket.until((r) => resyncs(r).length === 2, 'the resync to be sent again', 5000);
    expect(Date.now() - startedAt).toBeGreaterThan(1000);
    expect(resyncs(socket.received)[1]).toEqual({ type: 'resync', frame: 11 });
    expect(ids).toEqual([11]);
    const caughtUp = next(p3, 'frame', (f) => f.id === 14);
    socket.send({ type: 'catchup', from: 11, to: 13, full: false, entities: [], removed: [] });
    await caughtUp;
    expect(ids).toEqual([11, 13, 14]);
    expect(p3.connected).toBe(true);
  });
});
