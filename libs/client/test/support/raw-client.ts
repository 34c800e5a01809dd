import { WebSocket } from 'ws';
import {
  JsonCodec,
  PROTOCOL_VERSION,
  Subprotocol,
  type ClientMessage,
  type ServerMessage,
  type WelcomeMessage,
} from '@p3/protocol';

/** A bare JSON-protocol peer, for sending what the SDK never would (ops stamped for past frames). */
export interface RawClient {
  readonly welcome: WelcomeMessage;
  readonly received: ServerMessage[];
  send(message: ClientMessage): void;
  close(): void;
}

export async function rawClient(
  server: { host: string; port: number },
  room: string,
  clientId: string,
): Promise<RawClient> {
  const codec = new JsonCodec();
  const ws = new WebSocket(`ws://${server.host}:${server.port}/v1/connect`, [Subprotocol.Json]);
  const received: ServerMessage[] = [];
  const welcome = await new Promise<WelcomeMessage>((resolve, reject) => {
    ws.on('error', reject);
    ws.on('open', () =>
      ws.send(
        codec.encodeClient({
          type: 'join',
          protocolVersion: PROTOCOL_VERSION,
          room,
          clientId,
          sessionStamp: 1,
        }),
      ),
    );
    ws.on('message', (data) => {
      const decoded = codec.decodeServer(String(data));
      if (!decoded.ok) return;
      received.push(decoded.value);
      if (decoded.value.type === 'welcome') resolve(decoded.value);
    });
  });
  return {
    welcome,
    received,
    send: (message) => ws.send(codec.encodeClient(message)),
    close: () => ws.terminate(),
  };
}
