import type { ClusterProcess } from '../../scripts/cluster-processes.js';
import { scrapeGateway, type GatewayScrape } from './server-metrics.js';

/** One gateway over a window, from its /metrics at both ends (undefined where a scrape failed). */
export interface GatewayTraffic {
  readonly name: string;
  /** Client sockets (`p3_gateway_connections`) and rooms with members here (`..._rooms_served`) at the end. */
  readonly connections: number | undefined;
  readonly roomsServed: number | undefined;
  /**
   * Room output messages (and payload bytes) the gateway took in per second (`p3_gateway_cluster_output_messages
   * _total`, `_bytes_total`). The gateway holds one NATS subscription per room it serves
   * (libs/runtime/src/room-output-receiver.ts) besides its own inbox: this is its NATS intake but for join replies.
   */
  readonly outputMessagesPerSecond: number | undefined;
  readonly outputBytesPerSecond: number | undefined;
}

/** Scrapes every gateway now; `end()` scrapes again and gives the traffic between. */
export async function startGatewayWindow(
  gateways: readonly ClusterProcess[],
): Promise<{ end(): Promise<GatewayTraffic[]> }> {
  const scrape = (): Promise<Array<GatewayScrape | undefined>> =>
    Promise.all(gateways.map((g) => scrapeGateway(g.port)));
  const before = await scrape();
  const at = performance.now();
  return {
    async end() {
      const after = await scrape();
      const seconds = (performance.now() - at) / 1000;
      return gateways.map((g, i) => {
        const [a, b] = [before[i], after[i]];
        const rate = (pick: (s: GatewayScrape) => number | undefined): number | undefined => {
          const [x, y] = [a === undefined ? undefined : pick(a), b === undefined ? undefined : pick(b)];
          return x === undefined || y === undefined ? undefined : (y - x) / seconds;
        };
        return {
          name: g.name,
          connections: b?.connections,
          roomsServed: b?.roomsServed,
          outputMessagesPerSecond: rate((s) => s.outputMessages),
          outputBytesPerSecond: rate((s) => s.outputBytes),
        };
      });
    },
  };
}
