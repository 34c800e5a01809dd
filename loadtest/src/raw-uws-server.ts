// The floor of the arena benchmark: the least a server can do for the same traffic. A client joins the room
// named in its URL (`/raw?room=NAME`); every message it sends is published as-is, at once, to the other members
// of that room (uWS `ws.publish` skips the sender). No decoding, no state, no tick. Same uWS build and native-addon
// check as the P3 gateway. Prints `{"port": N}` on stdout once listening.
import uWS, { type WebSocket, type us_listen_socket } from 'uWebSockets.js';
import { parseArgs } from 'node:util';
import { emitLine, stopWithParent } from './child-lifetime.js';
import { numberFlag } from './bench-options.js';

/** The same check as services/gateway/src/uws.ts: the pinned build silently falls back to pure JS off Node 20. */
function assertNativeUws(): void {
  if (!/\[native code\]/.test(Function.prototype.toString.call(uWS.App))) {
    throw new Error(
      `uWebSockets.js did not load its native addon on Node ${process.versions.node} (ABI ${process.versions.modules})`,
    );
  }
}

interface RawSocketData {
  readonly topic: string;
}

const { values } = parseArgs({ options: { lifetime: { type: 'string' } }, strict: true });
const problems: string[] = [];
const lifetimeSeconds = numberFlag(values.lifetime, 'lifetime', 120, 1, 86_400, problems);
if (problems.length > 0) throw new Error(problems.join('; '));

assertNativeUws();
const app = uWS.App();
const sockets = new Set<WebSocket<RawSocketData>>();
app.ws<RawSocketData>('/raw', {
  maxPayloadLength: 1024 * 1024,
  maxBackpressure: 8 * 1024 * 1024,
  idleTimeout: 60,
  sendPingsAutomatically: true,
  upgrade: (res, req, context) => {
    const room = req.getQuery('room') ?? '';
    // Echo the first subprotocol offered (the load client offers the P3 one; a client that offered one needs it back).
    const protocol = req.getHeader('sec-websocket-protocol').split(',')[0]?.trim() ?? '';
    res.upgrade<RawSocketData>(
      { topic: `room/${room}` },
      req.getHeader('sec-websocket-key'),
      protocol,
      req.getHeader('sec-websocket-extensions'),
      context,
    );
  },
  open: (ws) => {
    sockets.add(ws);
    ws.subscribe(ws.getUserData().topic);
  },
  message: (ws, message, isBinary) => {
    ws.publish(ws.getUserData().topic, message, isBinary);
  },
  close: (ws) => {
    sockets.delete(ws);
  },
});
const listenSocket = await new Promise<us_listen_socket>((resolve, reject) => {
  app.listen('127.0.0.1', 0, (socket) =>
    socket ? resolve(socket) : reject(new Error('cannot listen on 127.0.0.1')),
  );
});
emitLine({ port: uWS.us_socket_local_port(listenSocket), pid: process.pid });
stopWithParent(lifetimeSeconds * 1000, () => {
  for (const ws of [...sockets]) ws.end(1001, 'bench over');
  uWS.us_listen_socket_close(listenSocket);
});
