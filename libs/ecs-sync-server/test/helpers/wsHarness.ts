import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
export { WsTestClient } from '@p3/test-support';
import type { Room } from '../../src/index.js';

/** A real ws server on an ephemeral port that hands every connection to the room of its `roomId`. */
export interface TestServer {
  readonly url: string;
  /** Server-side sockets by clientId, newest last (to kill connections from the server side). */
  readonly sockets: Map<string, WebSocket[]>;
  close(): Promise<void>;
}

export async function startTestServer(
  roomFor: (roomId: string) => Room | Promise<Room>,
): Promise<TestServer> {
  const server: Server = createServer();
  const wss = new WebSocketServer({ server });
  const sockets = new Map<string, WebSocket[]>();
  wss.on('connection', (ws, req) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const roomId = url.searchParams.get('roomId') ?? 'default';
    const clientId = url.searchParams.get('clientId') ?? randomUUID();
    sockets.set(clientId, [...(sockets.get(clientId) ?? []), ws]);
    // Hold incoming messages while the room loads: the client's reconnect is already on its way.
    ws.pause();
    void Promise.resolve(roomFor(roomId)).then((room) => {
      // `?sessionId=` lets a test reuse a session id (a tab reconnecting); otherwise every connection is new.
      const sessionId = url.searchParams.get('sessionId') ?? randomUUID();
      void room.handleSocketConnect({ sessionId, socket: ws, clientId });
      ws.resume();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}/`,
    sockets,
    close: async () => {
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve())));
    },
  };
}
