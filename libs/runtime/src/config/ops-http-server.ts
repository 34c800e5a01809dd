import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface OpsHttpServer {
  /** The port bound (the one asked for, or the free one picked for port 0). */
  readonly port: number;
  close(): Promise<void>;
}

/**
 * The operations endpoints of a service without a uWS app (simulator, persister): `/healthz` (the process runs),
 * `/readyz` (200 with `{ ready: true }`, or 503 with the reasons it is not ready) and `/metrics` (Prometheus).
 * Rejects when the port cannot be bound (the caller exits with the reason).
 *
 * @example
 * const ops = await startOpsHttpServer({ host: '0.0.0.0', port: 8091, registry, notReady: () => [] });
 */
export function startOpsHttpServer(options: {
  readonly host: string;
  readonly port: number;
  readonly registry: Registry;
  /** Why the service is not ready now; empty when it is. */
  readonly notReady: () => readonly string[];
}): Promise<OpsHttpServer> {
  const { registry } = options;
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    } else if (path === '/readyz') {
      const reasons = options.notReady();
      res
        .writeHead(reasons.length === 0 ? 200 : 503, { 'content-type': 'application/json' })
        .end(JSON.stringify(reasons.length === 0 ? { ready: true } : { ready: false, reasons }));
    } else if (path === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (error: unknown) => res.writeHead(500).end(String(error)),
      );
    } else {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"code":"NOT_FOUND"}');
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
