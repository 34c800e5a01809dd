// The Colyseus side of bench:sdk, in its own process: Colyseus 0.18 (`@colyseus/core` with its default
// transport, `@colyseus/ws-transport`) hosting one room type whose state is a MapSchema of players {x, y, t}
// (colyseus-arena-state.ts); each client moves its own player with a `move` message the room applies to the state
// at once, and the room sends patches at the bench's tick rate (patchRate 1000 / 30 ms by default). Prints
// `{"port": N}` on stdout once listening; stops with its parent, on SIGTERM, or after --lifetime seconds.
import { Room, Server, type Client } from '@colyseus/core';
import { WebSocketTransport } from '@colyseus/ws-transport';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { intFlag, numberFlag } from './bench-options.js';
import { emitLine, stopWithParent } from './child-lifetime.js';
import {
  ArenaPlayer,
  ArenaState,
  COLYSEUS_ROOM,
  MOVE_MESSAGE,
  type MoveMessage,
} from './colyseus-arena-state.js';

const { values } = parseArgs({
  options: { lifetime: { type: 'string' }, 'tick-rate': { type: 'string' } },
  strict: true,
});
const problems: string[] = [];
const lifetimeSeconds = numberFlag(values.lifetime, 'lifetime', 120, 1, 86_400, problems);
const tickRate = intFlag(values['tick-rate'], 'tick-rate', 30, 1, 240, problems);
if (problems.length > 0) throw new Error(problems.join('; '));

/** One arena: a player per client, moved by its client; patches at the tick rate. */
class ArenaRoom extends Room<{ state: ArenaState }> {
  override onCreate(): void {
    this.state = new ArenaState();
    this.patchRate = 1000 / tickRate;
    this.onMessage(MOVE_MESSAGE, (client: Client, message: MoveMessage) => {
      const player = this.state.players.get(client.sessionId);
      if (player === undefined) return;
      player.x = message.x;
      player.y = message.y;
      player.t = message.t;
    });
  }

  override onJoin(client: Client): void {
    this.state.players.set(client.sessionId, new ArenaPlayer({ x: 0, y: 0, t: 0 }));
  }

  override onLeave(client: Client): void {
    this.state.players.delete(client.sessionId);
  }
}

const transport = new WebSocketTransport();
const server = new Server({ transport, greet: false });
server.define(COLYSEUS_ROOM, ArenaRoom);
await server.listen(0, '127.0.0.1');
const address = transport.server?.address() as AddressInfo | null | undefined;
if (typeof address?.port !== 'number') throw new Error('Colyseus did not say which port it listens on');
emitLine({ port: address.port, pid: process.pid });
stopWithParent(lifetimeSeconds * 1000, () => server.gracefullyShutdown(false));
