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
  /**
   * `ws://127.0.0.1:PORT`, one or more (the cluster's gateways): the clients of a room alternate over them, by their
   * index within the room, so every room has about as many members behind each URL.
   */
  readonly baseUrls: readonly string[];
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
  const { target, stats, firstIndex, count, baseUrls, clientsPerRoom } = plan;
  if (baseUrls.length === 0) throw new Error('no server URL to connect to');
  const senders = new Map<string, number>();
  const indexes = Array.from({ length: count }, (_, i) => firstIndex + i);
  // One context per URL (the maps and the stats shared): a client takes the one of its index within its room.
  const urlOf = (index: number): number => (index % clientsPerRoom) % baseUrls.length;
  const common = baseUrls.map((baseUrl) => ({ baseUrl, clientsPerRoom, senders, stats }));
  if (target === Target.P3Sdk || target === Target.Colyseus)
    installGlobalWebSocket(countingWebSocket((bytes) => stats.received(bytes)));
  if (target === Target.P3Sdk) {
    const contexts = common.map((c) => ({ ...c, roomName: plan.roomName }));
    return indexes.map((index) => new SdkArenaClient(index, contexts[urlOf(index)]!));
  }
  if (target === Target.Colyseus) {
    const sdk: ColyseusSdk = await import('@colyseus/sdk');
    const roomIds = new Map<number, Promise<string>>();
    const contexts = common.map((c) => ({ ...c, sdk, roomIds }));
    return indexes.map((index) => new ColyseusArenaClient(index, contexts[urlOf(index)]!));
  }
  const contexts = common.map((c) => ({ ...c, target, codec: plan.codec, roomName: plan.roomName }));
  return indexes.map((index) => {
    const connection = new ArenaConnection(
      index,
      Math.floor(index / clientsPerRoom),
      contexts[urlOf(index)]!,
    );
    senders.set(connection.entityId, index);
    return connection;
  });
}
