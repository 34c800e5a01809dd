import { EnvReader } from '@p3/runtime';

export interface GatewayConfig {
  readonly host: string;
  /** 0 picks a free port (tests). */
  readonly port: number;
  /** Tenant of every room in a single-tenant install. */
  readonly tenant: string;
  /** Largest client message handled; larger ones get a TOO_LARGE error and are dropped. */
  readonly maxMessageBytes: number;
  /** Hard cap enforced by uWebSockets.js: a larger message closes the socket (1009). */
  readonly maxPayloadBytes: number;
  /** Seconds without traffic before uWS closes a socket; it pings automatically before that. */
  readonly idleTimeoutSeconds: number;
  /** A socket must send `join` within this time. */
  readonly joinTimeoutMs: number;
  readonly rateLimit: {
    readonly messagesPerSecond: number;
    readonly burst: number;
    /** Messages dropped in a row by the limiter before the socket is closed (RATE_LIMITED). */
    readonly closeAfterDropped: number;
  };
  readonly backpressure: {
    /** Buffered bytes past which a socket stops getting every frame (a catch-up delta follows). */
    readonly softBytes: number;
    /** Buffered bytes past which the socket is closed with CloseCode.Backpressure. */
    readonly hardBytes: number;
    /** A lagging socket gets its catch-up once drained below this. */
    readonly resumeBytes: number;
  };
}

export const defaultGatewayConfig: GatewayConfig = {
  host: '0.0.0.0',
  port: 8000,
  tenant: 'default',
  maxMessageBytes: 64 * 1024,
  maxPayloadBytes: 1024 * 1024,
  idleTimeoutSeconds: 60,
  joinTimeoutMs: 10_000,
  rateLimit: { messagesPerSecond: 120, burst: 240, closeAfterDropped: 2_000 },
  backpressure: { softBytes: 256 * 1024, hardBytes: 4 * 1024 * 1024, resumeBytes: 32 * 1024 },
};

/** Gateway settings from P3_* environment variables (validated; all problems reported at once). */
export function gatewayConfigFromEnv(
  env: Readonly<Record<string, string | undefined>>,
  base: GatewayConfig = defaultGatewayConfig,
): GatewayConfig {
  const r = new EnvReader(env);
  const d = base;
  const config: GatewayConfig = {
    host: r.string('P3_HOST', d.host),
    port: r.int('P3_PORT', d.port, { min: 0, max: 65535 }),
    tenant: r.string('P3_TENANT', d.tenant, { pattern: /^[A-Za-z0-9_-]{1,64}$/ }),
    maxMessageBytes: r.int('P3_MAX_MESSAGE_BYTES', d.maxMessageBytes, { min: 1024, max: 16 * 1024 * 1024 }),
    maxPayloadBytes: r.int('P3_MAX_PAYLOAD_BYTES', d.maxPayloadBytes, { min: 1024, max: 64 * 1024 * 1024 }),
    idleTimeoutSeconds: r.int('P3_IDLE_TIMEOUT_SECONDS', d.idleTimeoutSeconds, { min: 8, max: 960 }),
    joinTimeoutMs: r.int('P3_JOIN_TIMEOUT_MS', d.joinTimeoutMs, { min: 100, max: 600_000 }),
    rateLimit: {
      messagesPerSecond: r.int('P3_RATE_LIMIT_PER_SECOND', d.rateLimit.messagesPerSecond, {
        min: 1,
        max: 100_000,
      }),
      burst: r.int('P3_RATE_LIMIT_BURST', d.rateLimit.burst, { min: 1, max: 1_000_000 }),
      closeAfterDropped: r.int('P3_RATE_LIMIT_CLOSE_AFTER', d.rateLimit.closeAfterDropped, {
        min: 1,
        max: 10_000_000,
      }),
    },
    backpressure: {
      softBytes: r.int('P3_BACKPRESSURE_SOFT_BYTES', d.backpressure.softBytes, { min: 1024 }),
      hardBytes: r.int('P3_BACKPRESSURE_HARD_BYTES', d.backpressure.hardBytes, { min: 2048 }),
      resumeBytes: r.int('P3_BACKPRESSURE_RESUME_BYTES', d.backpressure.resumeBytes, { min: 0 }),
    },
  };
  r.done();
  return config;
}
