import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import type { Room } from '../../src/index.js';
import { EcsSyncTestClient } from './EcsSyncTestClient.js';

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
      void room.handleSocketConnect({ sessionId: randomUUID(), socket: ws, clientId });
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

/** An EcsSyncTestClient on a real socket, opened the way the existing client opens it. */
export class WsTestClient extends EcsSyncTestClient {
  private socket: WebSocket | undefined;
  readonly closes: { code: number; reason: string }[] = [];

  constructor(
    private readonly baseUrl: string,
    clientId: string,
    private readonly roomId = 'room',
  ) {
    super(clientId);
  }

  /** Opens the socket (the reconnect goes out on open); resolves once it is open. */
  connect(): Promise<void> {
    const url = new URL(this.baseUrl);
    url.searchParams.set('roomId', this.roomId);
    url.searchParams.set('clientId', this.clientId);
    const socket = new WebSocket(url.toString());
    this.socket = socket;
    return new Promise<void>((resolve, reject) => {
      socket.addEventListener('open', () => {
        this.opened((text) => socket.send(text));
        resolve();
      });
      socket.addEventListener('error', () => reject(new Error(`${this.clientId}: connection failed`)));
      socket.addEventListener('message', (event) => this.receive(String(event.data)));
      socket.addEventListener('close', (event) => {
        this.closes.push({ code: event.code, reason: event.reason });
        if (this.socket === socket) this.socket = undefined;
        this.closed();
      });
    });
  }

  /** Connects and waits for the reconnect reply (a barrier ack comes after it). */
  async join(): Promise<void> {
    await this.connect();
    await this.sync();
  }

  /** Closes the socket and waits until the client saw the close. */
  async disconnect(): Promise<void> {
    const socket = this.socket;
    if (socket === undefined) return;
    const done = new Promise<void>((resolve) => socket.addEventListener('close', () => resolve()));
    socket.close();
    await done;
  }
}
