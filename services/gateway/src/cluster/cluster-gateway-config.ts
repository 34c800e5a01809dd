import {
  EnvReader,
  clusterConnectionFromEnv,
  processMemberId,
  type ClusterConnectionConfig,
  type UnknownVariable,
} from '@p3/runtime';
import {
  gatewayConfigFromEnv,
  jwtConfigFromEnv,
  type GatewayConfig,
  type JwtConfig,
} from '../gateway-config.js';

/** Settings of one cluster gateway process (`services/gateway/src/main.ts`, `dist/gateway.mjs`). */
export interface ClusterGatewayConfig {
  readonly gateway: GatewayConfig;
  readonly cluster: ClusterConnectionConfig;
  /** P3_GATEWAY_ID; default unique per process (see processMemberId). */
  readonly gatewayId: string;
  readonly jwt: JwtConfig | undefined;
  /** P3_STATIC_DIR: a directory served at `/` (the demo page of `npm run build`); unset: none. */
  readonly staticDir: string | undefined;
  readonly demoTokens: boolean;
  /** P3_JOIN_TIMEOUT_MS: a join finds an owner within this long or fails with ROOM_UNAVAILABLE. */
  readonly joinTimeoutMs: number;
  /** P3_ROOM_SILENCE_MS: members of a room silent this long reconnect (its owner is presumed dead). */
  readonly silenceMs: number;
  /**
   * P3_OWNER_SILENT_MS: a simulator owning rooms served here that stops pulsing (4 times a second) for this long is
   * presumed dead: its members reconnect at once and the next owner claims its rooms when their leases expire.
   */
  readonly ownerSilentMs: number;
  /**
   * P3_GATEWAY_TTL_MS: the gateway's life in the gateways' membership without a heartbeat; a dead gateway's sessions
   * are ended by their simulators after it (and their resume grace starts).
   */
  readonly memberTtlMs: number;
  readonly logLevel: string;
}

export function clusterGatewayConfigFromEnv(
  env: Readonly<Record<string, string | undefined>>,
  onUnknown?: (variable: UnknownVariable) => void,
): ClusterGatewayConfig {
  const r = new EnvReader(env);
  const config: ClusterGatewayConfig = {
    gateway: gatewayConfigFromEnv(r),
    cluster: clusterConnectionFromEnv(r),
    gatewayId: processMemberId('gateway', r.optionalString('P3_GATEWAY_ID')),
    jwt: jwtConfigFromEnv(r),
    staticDir: r.optionalString('P3_STATIC_DIR'),
    demoTokens: r.bool('P3_DEMO_TOKENS', false),
    joinTimeoutMs: r.int('P3_JOIN_TIMEOUT_MS', 10_000, { min: 100, max: 120_000 }),
    silenceMs: r.int('P3_ROOM_SILENCE_MS', 1600, { min: 500, max: 120_000 }),
    ownerSilentMs: r.int('P3_OWNER_SILENT_MS', 1000, { min: 300, max: 120_000 }),
    memberTtlMs: r.int('P3_GATEWAY_TTL_MS', 3000, { min: 300, max: 120_000 }),
    logLevel: r.logLevel(),
  };
  r.finish(onUnknown);
  return config;
}
