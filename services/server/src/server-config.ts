import { gatewayConfigFromEnv, type GatewayConfig } from '@p3/gateway';
import { EnvReader } from '@p3/runtime';
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
  /** Client tokens: HMAC-signed JWTs with username and team. Unset: anonymous access (development). */
  readonly jwt:
    { readonly secret: string; readonly audience: string; readonly issuer: string | undefined } | undefined;
}

/** Settings of `npm start` from environment variables (see the README's configuration table). */
export function serverConfigFromEnv(env: Readonly<Record<string, string | undefined>>): ServerConfig {
  const gateway = gatewayConfigFromEnv(env);
  const simulator = simulatorConfigFromEnv(env);
  const r = new EnvReader(env);
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
    logLevel: r.string('P3_LOG_LEVEL', 'info', {
      oneOf: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
    }),
    demo: r.bool('P3_DEMO', true),
    jwt: jwtConfig(r),
  };
  r.done();
  return config;
}

function jwtConfig(r: EnvReader): ServerConfig['jwt'] {
  const secret = r.optionalString('P3_JWT_SECRET');
  if (secret === undefined) return undefined;
  return { secret, audience: r.string('P3_JWT_AUDIENCE', 'p3'), issuer: r.optionalString('P3_JWT_ISSUER') };
}
