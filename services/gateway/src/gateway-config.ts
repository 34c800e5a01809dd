import { EnvReader } from '@p3/runtime';
import { minJwtSecretBytes } from './jwt-authenticator.js';

export interface GatewayConfig {
  readonly host: string;
  /** 0 picks a free port (tests). */
  readonly port: number;
  /** Tenant of every room in a single-tenant install. */
  readonly tenant: string;
  /** Largest client message handled; larger ones get a TOO_LARGE error and are dropped. */
  readonly maxMessageBytes: number;
  /**
   * A larger message closes the socket with 1009 and a reason. uWebSockets.js receives up to twice this (the memory
   * one socket can hold) and drops the connection beyond it, without a close frame (1006).
   */
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
  /**
   * Inbound bytes per second (token buckets, beside the message rate) of one connection and of one room (all its
   * members on this gateway): what one client, or one room, can make the gateway fan out. Over budget a message is
   * dropped with BYTE_RATE_LIMITED; a message larger than a burst takes the whole burst. `/v1/connect` and `/ecs-sync`.
   */
  readonly byteRate: {
    readonly connectionBytesPerSecond: number;
    readonly connectionBurstBytes: number;
    readonly roomBytesPerSecond: number;
    readonly roomBurstBytes: number;
  };
  /** `resync` requests per connection (each builds a catch-up, up to the full state): over it RATE_LIMITED. */
  readonly resyncRate: { readonly perSecond: number; readonly burst: number };
  /**
   * Refused messages (bad, too large, `join` twice, `resync` over its rate, ...) a socket may send: a bucket of
   * `burst` refilled at `perSecond`; once empty the socket is closed with ProtocolViolation (4106).
   */
  readonly refusals: { readonly perSecond: number; readonly burst: number };
  /**
   * Browser origins allowed on WebSocket upgrades and `/v1/rooms/*` besides the server's own (an `Origin` whose host
   * is the request's `Host`). Entries: `*` (any), `scheme://host[:port]`, `:*` for any port, `*.` for subdomains.
   * Requests without `Origin` (non-browser clients) are allowed; `Origin: null` only with `*`.
   */
  readonly allowedOrigins: readonly string[];
  /** Server-sent events: a stream still behind (its socket full) after this long is ended (the client resumes). */
  readonly sse: { readonly maxLagMs: number };
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
  byteRate: {
    connectionBytesPerSecond: 256 * 1024,
    connectionBurstBytes: 1024 * 1024,
    roomBytesPerSecond: 1024 * 1024,
    roomBurstBytes: 4 * 1024 * 1024,
  },
  resyncRate: { perSecond: 2, burst: 4 },
  refusals: { perSecond: 1, burst: 50 },
  allowedOrigins: [
    'http://localhost:*',
    'http://127.0.0.1:*',
    'http://[::1]:*',
    'https://localhost:*',
    'https://127.0.0.1:*',
    'https://[::1]:*',
  ],
  sse: { maxLagMs: 30_000 },
};

/** One `P3_ALLOWED_ORIGINS` entry: `*`, or `scheme://host[:port]` where the port may be `*` and the host start with `*.`. */
const originEntry = String.raw`(\*|https?://(\*\.)?([A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(:(\d{1,5}|\*))?)`;
const originList = new RegExp(String.raw`^\s*${originEntry}(\s*,\s*${originEntry})*\s*$`);

/**
 * Gateway settings from P3_* environment variables (validated; all problems reported at once). Given an
 * environment it throws a ConfigError at the end; given a shared EnvReader it only records problems (the owner
 * of the reader calls `done()` once every reader ran, so one error lists them all).
 */
export function gatewayConfigFromEnv(
  env: Readonly<Record<string, string | undefined>> | EnvReader,
  base: GatewayConfig = defaultGatewayConfig,
): GatewayConfig {
  const r = EnvReader.shared(env);
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
    byteRate: {
      connectionBytesPerSecond: r.int('P3_BYTE_RATE_PER_SECOND', d.byteRate.connectionBytesPerSecond, {
        min: 1024,
      }),
      connectionBurstBytes: r.int('P3_BYTE_RATE_BURST', d.byteRate.connectionBurstBytes, { min: 1024 }),
      roomBytesPerSecond: r.int('P3_ROOM_BYTE_RATE_PER_SECOND', d.byteRate.roomBytesPerSecond, { min: 1024 }),
      roomBurstBytes: r.int('P3_ROOM_BYTE_RATE_BURST', d.byteRate.roomBurstBytes, { min: 1024 }),
    },
    resyncRate: {
      perSecond: r.int('P3_RESYNC_RATE_PER_SECOND', d.resyncRate.perSecond, { min: 1, max: 10_000 }),
      burst: r.int('P3_RESYNC_RATE_BURST', d.resyncRate.burst, { min: 1, max: 100_000 }),
    },
    refusals: {
      perSecond: r.int('P3_REFUSAL_RATE_PER_SECOND', d.refusals.perSecond, { min: 0, max: 100_000 }),
      burst: r.int('P3_REFUSAL_BURST', d.refusals.burst, { min: 1, max: 10_000_000 }),
    },
    allowedOrigins: parseOrigins(
      r.string('P3_ALLOWED_ORIGINS', '', { pattern: originList }),
      d.allowedOrigins,
    ),
    sse: { maxLagMs: r.int('P3_SSE_MAX_LAG_MS', d.sse.maxLagMs, { min: 100, max: 3_600_000 }) },
  };
  if (r !== env) r.done();
  return config;
}

/** `P3_ALLOWED_ORIGINS` (comma-separated, already validated): unset or empty keeps the default list. */
function parseOrigins(text: string, fallback: readonly string[]): readonly string[] {
  const entries = text
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  return entries.length === 0 ? fallback : entries;
}

/** Client tokens: HMAC-signed JWTs with username and team (P3_JWT_SECRET, P3_JWT_AUDIENCE, P3_JWT_ISSUER). */
export interface JwtConfig {
  readonly secret: string;
  readonly audience: string;
  readonly issuer: string | undefined;
}

/** The JWT settings, or undefined when P3_JWT_SECRET is unset (anonymous access; problems recorded on the reader). */
export function jwtConfigFromEnv(r: EnvReader): JwtConfig | undefined {
  // Every name is read, set or not: the list of known names (for typo warnings) comes from the readers.
  const secret = r.optionalString('P3_JWT_SECRET');
  const audience = r.string('P3_JWT_AUDIENCE', 'p3');
  const issuer = r.optionalString('P3_JWT_ISSUER');
  if (secret === undefined) return undefined;
  const bytes = new TextEncoder().encode(secret).length;
  if (bytes < minJwtSecretBytes)
    r.problem(
      `P3_JWT_SECRET has ${bytes} bytes: HS256 needs at least ${minJwtSecretBytes} (e.g. \`openssl rand -base64 32\`)`,
    );
  return { secret, audience, issuer };
}
