import type * as ColyseusSdkModule from '@colyseus/sdk';
import type { Client, Room } from '@colyseus/sdk';
import { botPosition } from './arena-schema.js';
import {
  ArenaState,
  COLYSEUS_ROOM,
  MOVE_MESSAGE,
  type ArenaPlayer,
  type MoveMessage,
} from './colyseus-arena-state.js';
import type { LoadStats } from './load-stats.js';
import { withTimeout, type LoadClient } from './load-client.js';

/** `@colyseus/sdk`, imported by the load process once it installed the counting WebSocket (the SDK reads it at load). */
export type ColyseusSdk = typeof ColyseusSdkModule;

/** What every Colyseus client of one load process shares. */
export interface ColyseusLoadContext {
  readonly sdk: ColyseusSdk;
  /** `ws://127.0.0.1:PORT` */
  readonly baseUrl: string;
  readonly clientsPerRoom: number;
  /** Session id -> global client index; each client adds itself once joined. */
  readonly senders: Map<string, number>;
  /** The Colyseus room id of each global room index, once its first client created it. */
  readonly roomIds: Map<number, Promise<string>>;
  readonly stats: LoadStats;
}

/**
 * One benchmark client on Colyseus's own SDK, as its docs have a user write it: the first client of a room
 * `create`s it, the others `joinById`; each client `send`s a `move` message {x, y, t} at the bench's send rate
 * (the room applies it to the client's player), and listens to every other player's `t` through the SDK's state
 * callbacks (`Callbacks.get(room)`, `onAdd` on the players map, `listen(player, 't')`): one received update per
 * change of `t` a patch brings. Bytes received are counted by the global WebSocket the load process installed.
 */
export class ColyseusArenaClient implements LoadClient {
  private room: Room<unknown, ArenaState> | undefined;
  private readonly position = { x: 0, y: 0 };
  private readonly move: MoveMessage = { x: 0, y: 0, t: 0 };
  private stopping = false;

  constructor(
    readonly index: number,
    private readonly ctx: ColyseusLoadContext,
  ) {}

  /** Global room index. */
  get roomIndex(): number {
    return Math.floor(this.index / this.ctx.clientsPerRoom);
  }

  open(timeoutMs: number): Promise<void> {
    return withTimeout(this.join(), timeoutMs, `client ${this.index} not joined`);
  }

  sendUpdate(now: number): void {
    const { room } = this;
    if (room === undefined || this.stopping) return;
    botPosition(this.index, now, this.position);
    this.move.x = this.position.x;
    this.move.y = this.position.y;
    this.move.t = now;
    room.send(MOVE_MESSAGE, this.move);
    this.ctx.stats.sentOne();
  }

  close(): void {
    this.stopping = true;
    void this.room?.leave(true).catch(() => undefined);
  }

  terminate(): void {
    this.close();
  }

  private async join(): Promise<void> {
    const { ctx } = this;
    const client: Client = new ctx.sdk.Client(ctx.baseUrl);
    const roomIndex = this.roomIndex;
    let room: Room<unknown, ArenaState>;
    // Clients open in index order, so a room's first client registers its creation before the others look.
    if (this.index % ctx.clientsPerRoom === 0) {
      const creating = client.create(COLYSEUS_ROOM, {}, ArenaState);
      ctx.roomIds.set(
        roomIndex,
        creating.then((r) => r.roomId),
      );
      room = await creating;
    } else {
      const roomId = ctx.roomIds.get(roomIndex);
      if (roomId === undefined)
        throw new Error(`client ${this.index}: room ${roomIndex} has no first client`);
      room = await client.joinById(await roomId, {}, ArenaState);
    }
    this.room = room;
    ctx.senders.set(room.sessionId, this.index);
    room.onError(() => ctx.stats.errors++);
    room.onLeave(() => {
      if (!this.stopping) ctx.stats.unexpectedCloses++;
    });
    const callbacks = ctx.sdk.Callbacks.get(room);
    callbacks.onAdd('players', (player: ArenaPlayer, sessionId: string) => {
      callbacks.listen(player, 't', (t: number) => this.updated(sessionId, t), false);
    });
  }

  private updated(sessionId: string, t: number): void {
    const sender = this.ctx.senders.get(sessionId);
    if (sender === undefined) return;
    this.ctx.stats.update(this.index, sender, performance.now(), t);
  }
}
