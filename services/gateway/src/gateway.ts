import { CloseCode, Subprotocol } from '@p3/protocol';
import { systemClock, type Clock, type RoomService } from '@p3/runtime';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { anonymousAuthenticator, type Authenticator } from './auth.js';
import { ClientSessions } from './client-session.js';
import type { GatewayConfig } from './gateway-config.js';
import { GatewayMetrics } from './gateway-metrics.js';
import { bearerToken, sendError } from './http/http-errors.js';
import { guardResponse, sendJson, sendText } from './http/http-response.js';
import { OriginPolicy } from './http/origin-policy.js';
import type { StaticFile } from './http/static-files.js';
import { InboundLimits, RoomByteBudgets } from './inbound-limits.js';
import { listenFailure } from './listen-error.js';
import { RoomFanout } from './room-fanout.js';
import type { SocketData } from './socket-data.js';
import {
  assertNativeUws,
  listenExclusive,
  uWS,
  type TemplatedApp,
  type WebSocket,
  type us_listen_socket,
} from './uws.js';

/** Adds routes (HTTP API, other WebSocket endpoints) to the gateway's app before it listens. */
export interface GatewayExtension {
  register(
    app: TemplatedApp,
    context: {
      readonly logger: Logger;
      readonly auth: Authenticator;
      readonly config: GatewayConfig;
      readonly metrics: GatewayMetrics;
      /** `config.allowedOrigins`, compiled: check every upgrade and request with it. */
      readonly origins: OriginPolicy;
      /** Per-room byte budgets, shared by every endpoint's sockets. */
      readonly roomBudgets: RoomByteBudgets;
    },
  ): void;
  /** Called on shutdown before the listen socket closes (close sockets, flush). */
  close?(code: number, reason: string): Promise<void> | void;
}

export interface GatewayDeps {
  readonly rooms: RoomService;
  readonly logger: Logger;
  readonly registry: Registry;
  /** Build it first and hand it to the room host as its RoomOutput (see `createFanout`). */
  readonly fanout: RoomFanout;
  readonly metrics: GatewayMetrics;
  readonly auth?: Authenticator;
  readonly clock?: Clock;
  readonly staticFiles?: ReadonlyMap<string, StaticFile>;
  readonly extensions?: readonly GatewayExtension[];
  /** Readiness beyond "listening" (e.g. storage reachable). */
  readonly ready?: () => boolean;
}

export interface GatewayHandle {
  readonly port: number;
  readonly app: TemplatedApp;
  connectionCount(): number;
  /** Stops accepting, closes every socket with `code` (default: draining, reconnect elsewhere), closes the port. */
  close(code?: number, reason?: string): Promise<void>;
}

/** The gateway's RoomOutput and metrics exist before the gateway: the room host needs the output at construction. */
export function createFanout(
  config: GatewayConfig,
  registry: Registry,
  logger: Logger,
): { fanout: RoomFanout; metrics: GatewayMetrics } {
  const metrics = new GatewayMetrics(registry);
  return { fanout: new RoomFanout(config, metrics, logger), metrics };
}

/**
 * Starts the uWebSockets.js edge: `/v1/connect` (P3 protocol, JSON or binary by subprotocol), `/healthz`,
 * `/readyz`, `/metrics`, static demo files, and whatever extensions register.
 */
export async function startGateway(config: GatewayConfig, deps: GatewayDeps): Promise<GatewayHandle> {
  assertNativeUws();
  const { logger, metrics, fanout } = deps;
  const clock = deps.clock ?? systemClock;
  const auth = deps.auth ?? anonymousAuthenticator;
  const app = uWS.App();
  fanout.attach(app, deps.rooms);
  const sessions = new ClientSessions({ config, rooms: deps.rooms, fanout, auth, metrics, logger, clock });
  const sockets = new Set<WebSocket<SocketData>>();
  const origins = new OriginPolicy(config.allowedOrigins);
  const roomBudgets = new RoomByteBudgets(clock, config.byteRate);
  let nextId = 0;
  let draining = false;

  app.ws<SocketData>('/v1/connect', {
    // Twice the cap: a message past the cap still arrives and is closed with 1009 and a reason (uWS itself would drop
    // the connection without a close frame); past twice the cap uWS does drop it (1006).
    maxPayloadLength: config.maxPayloadBytes * 2,
    // uWS silently skips publishes to a socket past maxBackpressure: keep it above our own hard bound so that
    // our policy (catch-up, then close) decides, never a silent drop.
    maxBackpressure: config.backpressure.hardBytes * 2,
    idleTimeout: config.idleTimeoutSeconds,
    sendPingsAutomatically: true,
    upgrade: (res, req, context) => {
      const offered = req
        .getHeader('sec-websocket-protocol')
        .split(',')
        .map((p) => p.trim());
      const codec = offered.includes(Subprotocol.Binary) ? 'binary' : 'json';
      const protocol = offered.includes(Subprotocol.Binary)
        ? Subprotocol.Binary
        : offered.includes(Subprotocol.Json)
          ? Subprotocol.Json
          : '';
      if (draining) {
        res.writeStatus('503 Service Unavailable').end('draining');
        return;
      }
      const foreign = origins.check(req.getHeader('origin'), req.getHeader('host'));
      if (foreign) {
        sendError(res, undefined, foreign);
        return;
      }
      const data: SocketData = {
        id: ++nextId,
        codec,
        remote: Buffer.from(res.getRemoteAddressAsText()).toString(),
        closed: false,
        joining: false,
        early: [],
        joined: undefined,
        limits: new InboundLimits(config, clock, roomBudgets),
        token: bearerToken(req),
        joinTimer: undefined,
      };
      res.upgrade(
        data,
        req.getHeader('sec-websocket-key'),
        protocol,
        req.getHeader('sec-websocket-extensions'),
        context,
      );
    },
    open: (ws) => {
      sockets.add(ws);
      metrics.connections.inc();
      const data = ws.getUserData();
      const timer = setTimeout(() => {
        if (!data.closed && !data.joined) ws.end(CloseCode.BadHandshake, 'no join received in time');
      }, config.joinTimeoutMs);
      data.joinTimer = () => clearTimeout(timer);
    },
    message: (ws, message) => {
      // uWS neuters the ArrayBuffer when the callback returns. Decoding runs inside this callback and copies what it
      // keeps into strings and numbers (no decoder holds on to the bytes), so the buffer is read in place.
      sessions.message(ws, new Uint8Array(message));
    },
    drain: (ws) => sessions.drain(ws),
    close: (ws) => {
      sockets.delete(ws);
      metrics.connections.dec();
      sessions.close(ws);
    },
  });

  app.get('/healthz', (res) => sendText(res, undefined, '200 OK', 'ok'));
  app.get('/readyz', (res) => {
    const ready = !draining && (deps.ready?.() ?? true);
    sendJson(res, undefined, ready ? '200 OK' : '503 Service Unavailable', { ready, draining });
  });
  app.get('/metrics', (res) => {
    const guard = guardResponse(res);
    deps.registry
      .metrics()
      .then((text) => sendText(res, guard, '200 OK', text, deps.registry.contentType))
      .catch((error: unknown) => {
        logger.error({ err: error }, 'metrics collection failed');
        sendText(res, guard, '500 Internal Server Error', 'metrics unavailable');
      });
  });
  for (const extension of deps.extensions ?? [])
    extension.register(app, { logger, auth, config, metrics, origins, roomBudgets });
  app.get('/*', (res, req) => {
    const file = deps.staticFiles?.get(req.getUrl());
    if (file) sendText(res, undefined, '200 OK', file.body, file.type, { 'cache-control': 'no-cache' });
    else
      sendJson(res, undefined, '404 Not Found', {
        code: 'NOT_FOUND',
        reason: `no route for ${req.getUrl().slice(0, 200)}`,
      });
  });

  // Exclusive: without it uWS sets SO_REUSEPORT and a second server on the port starts silently and shares it.
  const listenSocket = await new Promise<us_listen_socket | false>((resolve) =>
    listenExclusive(app, config.host, config.port, resolve),
  );
  if (listenSocket === false) {
    for (const extension of deps.extensions ?? [])
      await extension.close?.(CloseCode.ServerDraining, 'not started');
    throw await listenFailure(config.host, config.port);
  }
  const port = uWS.us_socket_local_port(listenSocket);
  logger.info({ host: config.host, port }, 'gateway listening');

  return {
    port,
    app,
    connectionCount: () => sockets.size,
    async close(code = CloseCode.ServerDraining, reason = 'server is shutting down; reconnect') {
      if (draining) return;
      draining = true;
      for (const extension of deps.extensions ?? []) await extension.close?.(code, reason);
      fanout.closeAll(code, reason);
      for (const ws of [...sockets]) if (!ws.getUserData().closed) ws.end(code, reason);
      uWS.us_listen_socket_close(listenSocket);
      logger.info({ port }, 'gateway closed');
    },
  };
}
