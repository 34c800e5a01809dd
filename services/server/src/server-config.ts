import { gatewayConfigFromEnv, jwtConfigFromEnv, type GatewayConfig, type JwtConfig } from '@p3/gateway';
import { EnvReader, type UnknownVariable } from '@p3/runtime';
import { simulatorConfigFromEnv, type SimulatorConfig } from '@p3/simulator';

export interface ServerConfig {
  readonly gateway: GatewayConfig;
  readonly simulator: SimulatorConfig;
  readonly instanceId: string;
  readonly storage: 'file' | 'memory' | 'postgres';
  readonly dataDir: string;
  /** Postgres storage: the connection string (`P3_DATABASE_URL`). */
  readonly databaseUrl: string;
  /** `log`: acks wait for the room log (default with file and Postgres storage); `snapshot`: snapshots only. */
  readonly durability: 'log' | 'snapshot';
  /** File log group commit: at most one fdatasync per this many ms under load. */
  readonly logCommitIntervalMs: number;
  readonly logLevel: string;
  readonly demo: boolean;
  /** Document rooms (`/ecs-sync`, HTTP API): at most one snapshot save per room per this many ms (`P3_DOC_SAVE_THROTTLE_MS`). */
  readonly documentSaveThrottleMs: number;
  /** `P3_DEMO_TOKENS`: `GET /demo/token` mints a token for any name and team (development only; needs the JWT secret). */
  readonly demoTokens: boolean;
  /** Client tokens: HMAC-signed JWTs with username and team. Unset: anonymous access (development). */
  readonly jwt: JwtConfig | undefined;
}

/**
 * Settings of `npm start` from environment variables (see the README's configuration table). One EnvReader reads
 * the gateway's, the simulator's and the server's settings, so the ConfigError lists every problem at once.
 * `onUnknown` hears of each `P3_*` variable that no reader asked for (with the closest known name): a typo.
 */
export function serverConfigFromEnv(
  env: Readonly<Record<string, string | undefined>>,
  onUnknown?: (variable: UnknownVariable) => void,
): ServerConfig {
  const r = new EnvReader(env);
  const gateway = gatewayConfigFromEnv(r);
  const simulator = simulatorConfigFromEnv(r);
  const storage = r.string('P3_STORAGE', 'file', { oneOf: ['file', 'memory', 'postgres'] }) as
    'file' | 'memory' | 'postgres';
  const config: ServerConfig = {
    gateway,
    simulator,
    instanceId: r.string('P3_INSTANCE_ID', 'arena', { pattern: /^[A-Za-z0-9_.:-]{1,128}$/ }),
    storage,
    dataDir: r.string('P3_DATA_DIR', './data'),
    databaseUrl: r.string('P3_DATABASE_URL', 'postgres://postgres@127.0.0.1:5432/postgres'),
    durability: r.string('P3_DURABILITY', storage === 'memory' ? 'snapshot' : 'log', {
      oneOf: ['log', 'snapshot'],
    }) as 'log' | 'snapshot',
    logCommitIntervalMs: r.int('P3_LOG_COMMIT_INTERVAL_MS', 20, { min: 0, max: 1000 }),
    logLevel: r.logLevel(),
    demo: r.bool('P3_DEMO', true),
    documentSaveThrottleMs: r.int('P3_DOC_SAVE_THROTTLE_MS', 1000, { min: 0, max: 3_600_000 }),
    demoTokens: r.bool('P3_DEMO_TOKENS', false),
    jwt: jwtConfigFromEnv(r),
  };
  r.finish(onUnknown);
  return config;
}
