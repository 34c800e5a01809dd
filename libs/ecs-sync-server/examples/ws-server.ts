// The seed's "Express + ws" example on plain node:http + ws: one RoomManager, one JSON file per room.
//
//   PORT=8087 DATA_DIR=./data npx tsx libs/ecs-sync-server/examples/ws-server.ts
//
// Clients connect to ws://localhost:8087/?roomId=<room>&clientId=<client> (the ecs-sync client appends clientId).
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { WebSocketServer } from 'ws';
import { CloseCode } from '@p3/protocol';
import { FileStorage, RoomManager } from '@p3/ecs-sync-server';

export interface WsServerOptions {
  port: number;
  dataDir: string;
  /** Largest client message; ws refuses bigger frames before buffering them. Default 1 MiB. */
  maxMessageBytes?: number;
}

export interface RunningServer {
  readonly port: number;
  readonly manager: RoomManager;
  /** Stops accepting, closes every room (final saves) and the HTTP server. */
  close(): Promise<void>;
}

export async function startWsServer(options: WsServerOptions): Promise<RunningServer> {
  const maxMessageBytes = options.maxMessageBytes ?? 1 << 20;
  // TCP keep-alive finds dead peers: the room itself never pings (seed 003, answer 7).
  const server = createServer({ keepAlive: true, keepAliveInitialDelay: 20_000 }, (_, res) => {
    res.writeHead(426, { 'content-type': 'text/plain' }).end('WebSocket only\n');
  });
  // A little over the room's limit so the room, not ws, answers a too-large message with a readable error.
  const wss = new WebSocketServer({ server, maxPayload: maxMessageBytes + 1024 });
  const manager = new RoomManager({
    createStorage: (roomId) => new FileStorage({ dir: options.dataDir, roomId }),
    roomOptions: { maxMessageBytes },
  });

  wss.on('connection', (ws, req) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const roomId = url.searchParams.get('roomId') ?? 'default';
    const clientId = url.searchParams.get('clientId');
    if (clientId === null || clientId.length === 0 || clientId.length > 256) {
      ws.close(CloseCode.BadHandshake, 'clientId query parameter required');
      return;
    }
    // The client sends its reconnect as soon as the socket opens: hold incoming messages while the room loads,
    // or that first message would be emitted before anyone listens (the seed's example loses it).
    ws.pause();
    manager.getRoom(roomId).then(
      (room) => {
        void room.handleSocketConnect({ sessionId: randomUUID(), socket: ws, clientId });
        ws.resume();
      },
      (error: unknown) => {
        console.error(`room ${roomId} failed to load:`, error);
        ws.close(CloseCode.Internal, 'room unavailable');
      },
    );
  });

  await new Promise<void>((resolve) => server.listen(options.port, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    manager,
    close: async () => {
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await manager.closeAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const running = await startWsServer({
    port: Number(process.env.PORT ?? 8087),
    dataDir: process.env.DATA_DIR ?? './data',
  });
  console.log(`ecs-sync server on ws://localhost:${running.port}/?roomId=<room>&clientId=<client>`);
  const stop = () => {
    running.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
