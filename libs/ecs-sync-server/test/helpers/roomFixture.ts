import { Room, type RoomOptions } from '../../src/index.js';
import { startTestServer, WsTestClient, type TestServer } from './wsHarness.js';

/** One room behind a real ws server, plus the clients a test opened; `dispose()` closes all of them. */
export interface RoomFixture {
  readonly room: Room;
  readonly server: TestServer;
  /** Opens a client and waits until its reconnect was answered. */
  join(clientId: string): Promise<WsTestClient>;
  /** A client that is not connected yet. */
  client(clientId: string): WsTestClient;
  dispose(): Promise<void>;
}

export async function roomFixture(options: RoomOptions = {}): Promise<RoomFixture> {
  const room = new Room({ onError: () => undefined, ...options });
  await room.load();
  const server = await startTestServer(() => room);
  const clients: WsTestClient[] = [];
  const client = (clientId: string) => {
    const c = new WsTestClient(server.url, clientId);
    clients.push(c);
    return c;
  };
  return {
    room,
    server,
    client,
    join: async (clientId) => {
      const c = client(clientId);
      await c.join();
      return c;
    },
    dispose: async () => {
      await Promise.all(clients.map((c) => c.disconnect()));
      await room.close();
      await server.close();
    },
  };
}

/** The room's live document (tombstones left out), as clients see it. */
export function liveState(room: Room): Record<string, Record<string, unknown>> {
  return Object.fromEntries(
    Object.entries(room.getSnapshot().state).filter(([, data]) => data._exists !== false),
  );
}
