import { ArenaConnection } from './arena-connection.js';
import { Target, type Codec, type ServerKind } from './bench-options.js';
import { ColyseusArenaClient, type ColyseusSdk } from './colyseus-arena-client.js';
import { countingWebSocket, installGlobalWebSocket } from './counting-websocket.js';
import type { LoadClient } from './load-client.js';
import type { LoadStats } from './load-stats.js';
import { SdkArenaClient } from './sdk-arena-client.js';

/** The clients one load process runs: which kind, where, and which global indexes. */
export interface LoadClientsPlan {
  readonly target: ServerKind;
  /** Protocol-level clients only (`p3`, `p3-nolog`, `raw`): the SDKs run at their defaults. */
  readonly codec: Codec;
  /** `ws://127.0.0.1:PORT` */
  readonly baseUrl: string;
  readonly clientsPerRoom: number;
  /** Global index of the first client; clients `firstIndex .. firstIndex + count - 1`. */
  readonly firstIndex: number;
  readonly count: number;
  readonly roomName: (room: number) => string;
  readonly stats: LoadStats;
}

/**
 * Makes the clients of one load process, driven the way the target asks: protocol-level sockets for `p3`,
 * `p3-nolog` and `raw` (`ArenaConnection`), the P3 SDK for `p3-sdk`, Colyseus's SDK for `colyseus`. For the SDKs it
 * first installs a global WebSocket that counts received bytes (both SDKs pick up a global WebSocket), and loads
 * Colyseus's SDK only after that (it reads the global when it loads).
 */
export async function makeLoadClients(plan: LoadClientsPlan): Promise<LoadClient[]> {
  const { target, stats, firstIndex, count } = plan;
  const senders = new Map<string, number>();
  const indexes = Array.from({ length: count }, (_, i) => firstIndex + i);
  const common = { baseUrl: plan.baseUrl, clientsPerRoom: plan.clientsPerRoom, senders, stats };
  if (target === Target.P3Sdk || target === Target.Colyseus)
    installGlobalWebSocket(countingWebSocket((bytes) => stats.received(bytes)));
  if (target === Target.P3Sdk) {
    const ctx = { ...common, roomName: plan.roomName };
    return indexes.map((index) => new SdkArenaClient(index, ctx));
  }
  if (target === Target.Colyseus) {
    const sdk: ColyseusSdk = await import('@colyseus/sdk');
    const ctx = { ...common, sdk, roomIds: new Map<number, Promise<string>>() };
    return indexes.map((index) => new ColyseusArenaClient(index, ctx));
  }
  const ctx = { ...common, target, codec: plan.codec, roomName: plan.roomName };
  return indexes.map((index) => {
    const connection = new ArenaConnection(index, ctx);
    senders.set(connection.entityId, index);
    return connection;
  });
}
