import { P3Client } from '@p3/client';
import type { ClusterProcess } from '../../../scripts/cluster-processes.js';
import { DocumentWriter } from './document-writer.js';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function until(ok: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const started = Date.now();
  while (!(await ok())) {
    if (Date.now() - started > ms) return false;
    await sleep(20);
  }
  return true;
}

/** Where the clients find the gateways now (a restarted gateway comes back in a new namespace). */
export type GatewayList = () => readonly ClusterProcess[];

export interface LoadOutcome {
  /** Acknowledged world inputs or document changes missing afterwards (a client left with unacknowledged ops, a
   * writer whose acknowledged change is not in the room, or clients that did not converge). */
  readonly lostAcked: number;
  readonly converged: boolean;
  readonly worldInputs: number;
  readonly ackedDocumentChanges: number;
  /** Reconnects of the world clients, and how many of them resumed the session (state as a delta). */
  readonly reconnects: number;
  readonly resumed: number;
  /** When the clients did not converge: what each saw. */
  readonly divergence?: string;
}

/**
 * The steady load every scenario runs under: 4 SDK clients on the world room (2 per gateway) turning their player
 * every 100 ms, and 2 ecs-sync writers on the document room (one per gateway) writing every 100 ms.
 */
export class FaultLoad {
  readonly clients: P3Client[];
  private readonly players: string[] = [];
  private readonly writers: DocumentWriter[];
  private running: Promise<void>[] = [];
  private turns = 0;
  private worldTimer: NodeJS.Timeout | undefined;
  private docTimer: NodeJS.Timeout | undefined;
  reconnects = 0;
  resumed = 0;
  private readonly connectedOnce = new Set<P3Client>();

  constructor(
    gateways: GatewayList,
    readonly worldRoom: string,
    readonly docRoom: string,
  ) {
    const initial = gateways();
    this.clients = Array.from({ length: 4 }, (_, i) => {
      const home = initial[i % initial.length]!;
      const client = new P3Client({
        host: home.address,
        port: home.port,
        instanceId: worldRoom,
        autoConnect: false,
        reconnect: { minDelayMs: 50, maxDelayMs: 500 },
        fallbacks: initial.filter((g) => g !== home).map((g) => ({ host: g.address, port: g.port })),
      });
      client.on('connect', (info) => {
        if (!this.connectedOnce.has(client)) {
          this.connectedOnce.add(client);
          return;
        }
        this.reconnects++;
        if (info.resumed) this.resumed++;
      });
      return client;
    });
    const urls = (first: number) => () => {
      const list = gateways().map((g) => `ws://${g.address}:${g.port}/ecs-sync`);
      return [
        ...list.slice(first % Math.max(1, list.length)),
        ...list.slice(0, first % Math.max(1, list.length)),
      ];
    };
    this.writers = [0, 1].map((i) => new DocumentWriter(urls(i), docRoom, `w${i}`));
  }

  async start(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.connect()));
    for (const [i, client] of this.clients.entries())
      this.players.push(client.createEntity('player', { name: `p${i}` }));
    this.worldTimer = setInterval(() => {
      this.turns++;
      this.clients.forEach((c, i) =>
        c.setInputState(this.players[i]!, { right: this.turns % 2 === 0, left: this.turns % 2 === 1 }),
      );
    }, 100);
    this.running = this.writers.map((w) => w.start());
    this.docTimer = setInterval(() => this.writers.forEach((w) => w.write()), 100);
  }

  get allConnected(): boolean {
    return this.clients.every((c) => c.connected);
  }

  /**
   * Stops writing, lets every op be acknowledged, and checks: every client converged on every player's last input,
   * and each writer's last acknowledged change is in the document room (read through `bootstrapUrl`).
   */
  async finish(bootstrapUrl: () => string): Promise<LoadOutcome> {
    clearInterval(this.worldTimer);
    clearInterval(this.docTimer);
    const { clients, players } = this;
    await until(() => clients.every((c) => c.connected && c.pendingOps === 0), 30_000);
    const finalInputs = clients.map((c, i) => JSON.stringify(c.getEntity(players[i]!)?.input ?? null));
    const converged = await until(
      () =>
        clients.every((viewer) =>
          players.every((id, i) => JSON.stringify(viewer.getEntity(id)?.input ?? null) === finalInputs[i]),
        ),
      10_000,
    );
    // Which inputs differ, for the scenario's note: the players' own inputs, then what each client sees.
    const divergence = converged
      ? undefined
      : `own inputs ${finalInputs.join(' ')}; seen ${clients
          .map((viewer) => players.map((id) => JSON.stringify(viewer.getEntity(id)?.input ?? null)).join(' '))
          .join(' | ')}`;
    const lostWorld = clients.filter((c) => c.pendingOps > 0).length + (converged ? 0 : 1);
    await sleep(300);
    let objects: Array<{ key: string; data: { n?: number } }> | undefined;
    // The room may be between owners for a moment: ask again (a 503 says so) until it answers.
    await until(async () => {
      const response = await fetch(bootstrapUrl()).catch(() => undefined);
      if (response?.status !== 200) return false;
      objects = ((await response.json()) as { objects?: typeof objects }).objects;
      return true;
    }, 15_000);
    const lostDocs = this.writers.filter((w) => {
      const n = objects?.find((o) => o.key === w.key)?.data.n ?? 0;
      return n < w.lastAcked;
    }).length;
    await Promise.all(this.writers.map((w) => w.stop()));
    await Promise.all(this.running);
    await Promise.all(clients.map((c) => c.disconnect()));
    return {
      lostAcked: lostWorld + lostDocs,
      converged,
      worldInputs: this.turns * clients.length,
      ackedDocumentChanges: this.writers.reduce((sum, w) => sum + w.lastAcked, 0),
      reconnects: this.reconnects,
      resumed: this.resumed,
      ...(divergence === undefined ? {} : { divergence }),
    };
  }
}
