import { afterEach, beforeEach } from 'vitest';
import { P3Client, type P3ClientOptions } from '@p3/client';
import type { JoinMessage } from '@p3/protocol';
import { startTestServer, type TestServer } from './test-server.js';
import { world } from './world.js';

export interface Fixture {
  server: TestServer;
  room: string;
  /** A client of this test's server and room; disconnected after the test. */
  client(options?: Partial<P3ClientOptions>): P3Client;
}

let rooms = 0;

/** A fresh test server per test (ephemeral port, own room), and cleanup of every client made through it. */
export function useServer(
  options: { refuse?: (join: JoinMessage) => { code: number; reason: string } | undefined } = {},
): Fixture {
  const clients: P3Client[] = [];
  const fixture = { room: '' } as Fixture;
  beforeEach(async () => {
    fixture.server = await startTestServer({ world, tickRate: 20, bufferFrame: 20, ...options });
    fixture.room = `room-${++rooms}`;
    fixture.client = (extra = {}) => {
      const p3 = new P3Client({
        host: fixture.server.host,
        port: fixture.server.port,
        instanceId: fixture.room,
        ...extra,
      });
      clients.push(p3);
      return p3;
    };
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.disconnect()));
    await fixture.server.close();
  });
  return fixture;
}
