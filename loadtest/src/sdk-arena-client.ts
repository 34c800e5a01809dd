import { P3Client, type P3Frame } from '@p3/client';
import { BOT_TYPE, botPosition } from './arena-schema.js';
import type { LoadStats } from './load-stats.js';
import { withTimeout, type LoadClient } from './load-client.js';

/** What every SDK client of one load process shares. */
export interface SdkLoadContext {
  /** `ws://127.0.0.1:PORT` */
  readonly baseUrl: string;
  readonly clientsPerRoom: number;
  /** Name of a global room index (see ArenaLoadContext). */
  readonly roomName: (room: number) => string;
  /** Bot entity id -> global client index; each client adds its bot once it created it. */
  readonly senders: Map<string, number>;
  readonly stats: LoadStats;
}

/**
 * One benchmark client driving the real `P3Client` at its defaults (only `instanceId` set: binary codec, sendRate
 * 20, inputDelayFrames 'arrival', the `ws` transport it loads by default), as a user's code would: it creates its bot,
 * calls `updateEntity(bot, { x, y, t })` at the bench's send rate, and reads its peers' bots from the `frame`
 * events. `t` is the time of the `updateEntity` call, so latency covers everything the SDK adds (its send queue,
 * its stamping for a later frame) on top of the server's tick. Bytes received are counted by the global
 * WebSocket the load process installed (counting-websocket.ts).
 */
export class SdkArenaClient implements LoadClient {
  private client: P3Client | undefined;
  private entityId: string | undefined;
  private readonly position = { x: 0, y: 0 };
  private created: (() => void) | undefined;
  private stopping = false;

  constructor(
    readonly index: number,
    private readonly ctx: SdkLoadContext,
  ) {}

  /** Global room index. */
  get room(): number {
    return Math.floor(this.index / this.ctx.clientsPerRoom);
  }

  async open(timeoutMs: number): Promise<void> {
    const { ctx } = this;
    const { hostname, port } = new URL(ctx.baseUrl);
    const client = new P3Client({ host: hostname, port: Number(port), instanceId: ctx.roomName(this.room) });
    this.client = client;
    client.on('frame', (frame) => this.frame(frame));
    client.on('reject', () => ctx.stats.rejects++);
    client.on('error', () => ctx.stats.errors++);
    client.on('disconnect', () => {
      if (!this.stopping) ctx.stats.unexpectedCloses++;
    });
    await withTimeout(client.connect(), timeoutMs, `client ${this.index} not connected`);
    const seen = new Promise<void>((resolve) => (this.created = resolve));
    const now = performance.now();
    botPosition(this.index, now, this.position);
    const id = client.createEntity(BOT_TYPE, { x: this.position.x, y: this.position.y, t: now });
    ctx.senders.set(id, this.index);
    this.entityId = id;
    await withTimeout(seen, timeoutMs, `client ${this.index} did not see its bot created`);
  }

  sendUpdate(now: number): void {
    const { client, entityId } = this;
    if (client === undefined || entityId === undefined || this.stopping) return;
    botPosition(this.index, now, this.position);
    client.updateEntity(entityId, { x: this.position.x, y: this.position.y, t: now });
    this.ctx.stats.sentOne();
  }

  close(): void {
    this.stopping = true;
    void this.client?.disconnect();
  }

  terminate(): void {
    this.close();
  }

  /** Every update of a bot in the frame's changes is one received update (the SDK's own bot: an echo). */
  private frame(frame: P3Frame): void {
    const now = performance.now();
    const { senders, stats } = this.ctx;
    const entities = frame.entities;
    for (let i = 0; i < entities.length; i++) {
      const update = entities[i]!;
      const t = update.fields?.t;
      if (typeof t !== 'number') continue;
      const sender = senders.get(update.id);
      if (sender === undefined) continue;
      if (sender === this.index && this.created !== undefined) {
        this.created();
        this.created = undefined;
      }
      stats.update(this.index, sender, now, t);
    }
  }
}
