import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION } from '@p3/protocol';
import { P3Server } from '@p3/server';
import { RawClient, WsTestClient, until } from '@p3/test-support';

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

function server(dataDir: string): P3Server {
  const p3 = new P3Server({
    port: 0,
    host: '127.0.0.1',
    instanceId: 'keep',
    dataDir,
    logLevel: 'silent',
    simulator: { snapshotIntervalMs: 100 },
    documents: { saveThrottleMs: 0 },
  });
  p3.createEntityType('note', { fields: { text: { dataType: 'string', accessControl: 'client' } } });
  return p3;
}

describe('embedded storage (npm start defaults: snapshots in a data directory)', () => {
  it('keeps world and document state across a restart', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'p3-restart-'));
    dirs.push(dataDir);
    const first = await server(dataDir).listen();
    const client = await RawClient.open(`ws://127.0.0.1:${first.port}/v1/connect`);
    client.send({
      type: 'join',
      protocolVersion: PROTOCOL_VERSION,
      room: 'keep',
      clientId: 'ann',
      sessionStamp: 1,
    });
    await client.next('welcome');
    const note = '0190d7a0-0000-7000-8000-00000000abcd';
    client.send({
      type: 'ops',
      stamp: 1,
      seq: 1,
      ops: [{ op: 'create', entityId: note, typeName: 'note', data: { text: 'still here' } }],
    });
    await client.next('frame', (m) => m.frame.entities.some((e) => e.id === note));
    const doc = new WsTestClient(`ws://127.0.0.1:${first.port}/ecs-sync`, 'bob', 'notes');
    await doc.join();
    doc.edit({ 'n1/Text': { _exists: true, body: 'kept' } });
    await doc.sync();
    await doc.disconnect();
    client.close();
    await first.close();

    const second = await server(dataDir).listen();
    const again = await RawClient.open(`ws://127.0.0.1:${second.port}/v1/connect`);
    again.send({
      type: 'join',
      protocolVersion: PROTOCOL_VERSION,
      room: 'keep',
      clientId: 'carl',
      sessionStamp: 1,
    });
    const welcome = await again.next('welcome');
    expect(welcome.entities).toEqual([expect.objectContaining({ id: note, fields: { text: 'still here' } })]);
    expect(welcome.frame).toBeGreaterThan(0);
    // The client that wrote it comes back to the same session: its sequence state survived the restart.
    const ann = await RawClient.open(`ws://127.0.0.1:${second.port}/v1/connect`);
    ann.send({
      type: 'join',
      protocolVersion: PROTOCOL_VERSION,
      room: 'keep',
      clientId: 'ann',
      sessionStamp: 1,
    });
    expect((await ann.next('welcome')).lastSeq).toBe(1);
    ann.close();
    const reader = new WsTestClient(`ws://127.0.0.1:${second.port}/ecs-sync`, 'dan', 'notes');
    await reader.join();
    await until(() => reader.document()['n1/Text']?.body === 'kept', 5000, 'the document after the restart');
    await reader.disconnect();
    again.close();
    await second.close();
  });
});
