import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startWsServer, type RunningServer } from '../examples/ws-server.js';
import { WsTestClient } from './helpers/wsHarness.js';

let dataDir = '';
let server: RunningServer | undefined;
const clients: WsTestClient[] = [];
beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'ecs-sync-example-'));
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.disconnect()));
  await server?.close();
  server = undefined;
  await rm(dataDir, { recursive: true, force: true });
});

const open = async (clientId: string, roomId = 'board') => {
  const client = new WsTestClient(`ws://127.0.0.1:${server!.port}/`, clientId, roomId);
  clients.push(client);
  await client.join();
  return client;
};

describe('examples/ws-server.ts', () => {
  it('serves ecs-sync clients, persists rooms as files and restores them after a restart', async () => {
    server = await startWsServer({ port: 0, dataDir });
    const alice = await open('alice');
    const bob = await open('bob');
    alice.edit({ 'shape/Rect': { x: 1, w: 10 } });
    await alice.sync();
    await bob.until(() => bob.document()['shape/Rect']);
    expect(bob.document()).toEqual(alice.document());
    const other = await open('carol', 'another room');
    expect(other.document()).toEqual({});

    await Promise.all(clients.splice(0).map((c) => c.disconnect()));
    await server.close();
    const saved = JSON.parse(await readFile(join(dataDir, 'board.json'), 'utf8')) as { timestamp: number };
    expect(saved.timestamp).toBe(1);

    server = await startWsServer({ port: 0, dataDir });
    const later = await open('dave');
    expect(later.document()).toEqual({ 'shape/Rect': { _exists: true, x: 1, w: 10 } });
    expect(later.lastTimestamp).toBe(1);
  });

  it('closes connections without a clientId (4103)', async () => {
    server = await startWsServer({ port: 0, dataDir });
    const socket = new WebSocket(`ws://127.0.0.1:${server.port}/?roomId=x`);
    const code = await new Promise<number>((resolve) => socket.on('close', (c: number) => resolve(c)));
    expect(code).toBe(4103);
  });
});
