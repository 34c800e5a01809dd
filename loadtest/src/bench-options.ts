import { parseArgs } from 'node:util';
import type { UsageFlag } from './cli-usage.js';

export const Codec = { Binary: 'binary', Json: 'json' } as const;
export type Codec = (typeof Codec)[keyof typeof Codec];

/**
 * What a run measures: one server kind, the `default` set, or `all` of the arena's kinds (`both` is the name `all`
 * had when there were two kinds, kept so that old command lines still run everything). `--target` also takes a
 * comma-separated list of these (`p3,p3-cluster`): see `ArenaTarget`.
 */
export const Target = {
  P3: 'p3',
  P3Cluster: 'p3-cluster',
  P3NoLog: 'p3-nolog',
  P3Sdk: 'p3-sdk',
  Raw: 'raw',
  Colyseus: 'colyseus',
  Default: 'default',
  All: 'all',
  Both: 'both',
} as const;
export type Target = (typeof Target)[keyof typeof Target];
/**
 * A server the load runs against, with the clients that drive it: `p3` is P3 with its durable room log on (file
 * storage, durability `log`: what the verdicts judge) driven by protocol-level clients (raw sockets and the
 * codecs), `p3-cluster` the same world and clients against the cluster (2 gateways, 2 simulators, 1 persister as
 * OS processes from the build, over the local NATS, Redis and Postgres; each room's clients split over the two
 * gateways), `p3-nolog` P3 with in-memory storage and no log (the cost of the log is the difference),
 * `p3-sdk` P3 with the log driven by the real `P3Client` SDK at its defaults (what users get), `raw` the uWS
 * broadcast floor, `colyseus` Colyseus with its own SDK (the baseline of `bench:sdk`).
 */
export type ServerKind = Exclude<Target, 'default' | 'all' | 'both'>;
/** Every kind, in the order the reports show them. */
export const serverKindOrder: readonly ServerKind[] = [
  Target.P3,
  Target.P3Cluster,
  Target.P3NoLog,
  Target.P3Sdk,
  Target.Raw,
  Target.Colyseus,
];
/**
 * What `--target default` (the arena's default) and `--target all` run. Neither holds `p3-cluster`: it needs the
 * local NATS, Redis and Postgres, so it runs only when named (`--target p3-cluster`, `--target p3,p3-cluster`).
 */
export const defaultArenaKinds: readonly ServerKind[] = [Target.P3, Target.P3Sdk, Target.Raw];
export const allArenaKinds: readonly ServerKind[] = [Target.P3, Target.P3NoLog, Target.P3Sdk, Target.Raw];
/** Single-process P3 kinds: one server process with /metrics (tick and log histograms). */
export function isP3Kind(kind: ServerKind): boolean {
  return kind === Target.P3 || kind === Target.P3NoLog || kind === Target.P3Sdk;
}
/** The cluster kind: several server processes, two gateway URLs. */
export function isClusterKind(kind: ServerKind): boolean {
  return kind === Target.P3Cluster;
}
/** Kinds whose server keeps the durable room log (a fresh data directory per run). */
export function hasRoomLog(kind: ServerKind): boolean {
  return kind === Target.P3 || kind === Target.P3Sdk;
}
/** Kinds whose clients measure ack latency (the protocol-level P3 clients: the SDK keeps acks to itself). */
export function measuresAcks(kind: ServerKind): boolean {
  return kind === Target.P3 || kind === Target.P3NoLog || kind === Target.P3Cluster;
}

/**
 * What `--target` names: one `Target` (a kind or a set), or, from a comma-separated list, the kinds it expands to
 * in the order given (`p3,p3-cluster`; `default,p3-cluster` is the default set plus the cluster).
 */
export type ArenaTarget = Target | readonly ServerKind[];

/** The scenario: R rooms x C clients, each client moving one bot at `sendHz`; rooms tick at `tickRate`. */
export interface ArenaOptions {
  readonly rooms: number;
  readonly clients: number;
  /** Length of the measured window. */
  readonly seconds: number;
  /** Time between "every client is sending" and the start of the measured window. */
  readonly warmup: number;
  readonly codec: Codec;
  readonly target: ArenaTarget;
  readonly sendHz: number;
  readonly tickRate: number;
  /**
   * Load processes sharing the rooms (each runs a contiguous range of whole rooms); at most `rooms` are started.
   * More than one keeps the load generator's own queueing out of the latency it reports.
   */
  readonly loadProcs: number;
  /**
   * Rounds run back to back, the order of the servers rotating by one each round (so none always goes first):
   * the verdicts use each figure's median over the rounds, since one round on a shared VM can be off by several
   * milliseconds of p99.
   */
  readonly rounds: number;
  /**
   * Where each run of P3 with the log makes its fresh data directory (removed afterwards); undefined: the OS temp
   * directory. Must be a real disk: on tmpfs an fdatasync costs nothing.
   */
  readonly dataDir: string | undefined;
  /** Write a V8 CPU profile of the P3 server process into this directory (`node --cpu-prof`). */
  readonly cpuProf: string | undefined;
  /**
   * Write a V8 CPU profile of every load process into this directory: the weight of the clients (with `p3-sdk`, the
   * SDK's) under the bench's load, mapped to TypeScript lines by `cpu-profile-top.ts`.
   */
  readonly loadCpuProf: string | undefined;
  /** Print only the JSON line (no table). */
  readonly jsonOnly: boolean;
}

/** Defaults sized for a 2-core machine shared by the server and the load processes. */
export const defaultArenaOptions: ArenaOptions = {
  rooms: 20,
  clients: 25,
  seconds: 20,
  warmup: 5,
  codec: Codec.Binary,
  target: Target.Default,
  sendHz: 20,
  tickRate: 30,
  loadProcs: 2,
  rounds: 3,
  dataDir: undefined,
  cpuProf: undefined,
  loadCpuProf: undefined,
  jsonOnly: false,
};

/**
 * Parses `--rooms 20 --clients 25 --seconds 20 --warmup 5 --codec binary|json --target KIND|default|all[,...]`
 * (plus `--send-hz`, `--tick-rate`, `--load-procs`, `--rounds`, `--data-dir DIR`, `--cpu-prof DIR`,
 * `--load-cpu-prof DIR`, `--json`).
 * Unknown flags and bad values throw, all at once.
 */
export function parseArenaOptions(
  argv: readonly string[],
  defaults: ArenaOptions = defaultArenaOptions,
): ArenaOptions {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      rooms: { type: 'string' },
      clients: { type: 'string' },
      seconds: { type: 'string' },
      warmup: { type: 'string' },
      codec: { type: 'string' },
      target: { type: 'string' },
      'send-hz': { type: 'string' },
      'tick-rate': { type: 'string' },
      'load-procs': { type: 'string' },
      rounds: { type: 'string' },
      'data-dir': { type: 'string' },
      'cpu-prof': { type: 'string' },
      'load-cpu-prof': { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  const problems: string[] = [];
  const d = defaults;
  const options: ArenaOptions = {
    rooms: intFlag(values.rooms, 'rooms', d.rooms, 1, 10_000, problems),
    clients: intFlag(values.clients, 'clients', d.clients, 2, 10_000, problems),
    seconds: numberFlag(values.seconds, 'seconds', d.seconds, 0.5, 3600, problems),
    warmup: numberFlag(values.warmup, 'warmup', d.warmup, 0, 600, problems),
    codec: oneOf(values.codec, 'codec', Object.values(Codec), d.codec, problems),
    target: targetList(values.target, d.target, problems),
    sendHz: numberFlag(values['send-hz'], 'send-hz', d.sendHz, 1, 240, problems),
    tickRate: intFlag(values['tick-rate'], 'tick-rate', d.tickRate, 1, 240, problems),
    loadProcs: intFlag(values['load-procs'], 'load-procs', d.loadProcs, 1, 64, problems),
    rounds: intFlag(values.rounds, 'rounds', d.rounds, 1, 20, problems),
    dataDir: values['data-dir'],
    cpuProf: values['cpu-prof'],
    loadCpuProf: values['load-cpu-prof'],
    jsonOnly: values.json ?? false,
  };
  if (problems.length > 0) throw new Error(`bad arguments: ${problems.join('; ')}`);
  return options;
}

/**
 * The flags `parseArenaOptions` takes, for the usage texts of bench:arena and bench:sdk: one list for both, with
 * each bench's defaults. `defaultKinds` is what that bench's `--target default` runs (the two benches differ).
 */
export function arenaUsageFlags(defaults: ArenaOptions, defaultKinds: readonly ServerKind[]): UsageFlag[] {
  const target =
    defaults.target === Target.Default
      ? defaultKinds.join(',')
      : typeof defaults.target === 'string'
        ? defaults.target
        : defaults.target.join(',');
  const orOff = (dir: string | undefined): string => dir ?? 'off';
  return [
    ['--rooms N', `rooms (default ${defaults.rooms})`],
    ['--clients N', `clients per room, each moving one bot (default ${defaults.clients})`],
    ['--seconds S', `length of the measured window (default ${defaults.seconds})`],
    ['--warmup S', `seconds between "every client sends" and the window (default ${defaults.warmup})`],
    ['--codec binary|json', `wire codec of the protocol-level clients (default ${defaults.codec})`],
    [
      '--target KIND|default|all[,...]',
      `servers to measure; KIND is one of ${serverKindOrder.join(', ')} (default ${target})`,
    ],
    ['--send-hz N', `updates per second of each client (default ${defaults.sendHz})`],
    ['--tick-rate N', `room ticks per second (default ${defaults.tickRate})`],
    ['--load-procs N', `load processes sharing the rooms (default ${defaults.loadProcs})`],
    ['--rounds N', `rounds, the server order rotating each round (default ${defaults.rounds})`],
    [
      '--data-dir DIR',
      `where P3's room log writes; a real disk, not tmpfs (default ${defaults.dataDir ?? 'the OS temp directory'})`,
    ],
    ['--cpu-prof DIR', `write a V8 CPU profile of the P3 server here (default ${orOff(defaults.cpuProf)})`],
    [
      '--load-cpu-prof DIR',
      `write V8 CPU profiles of the load processes here (default ${orOff(defaults.loadCpuProf)})`,
    ],
    ['--json', 'print only the JSON line, no table'],
    ['-h, --help', 'print this text'],
  ];
}

/** The kinds a target names, in the order of round 0. */
export function targetKinds(target: ArenaTarget): readonly ServerKind[] {
  if (typeof target !== 'string') return target;
  if (target === Target.Default) return defaultArenaKinds;
  if (target === Target.All || target === Target.Both) return allArenaKinds;
  return [target];
}

/**
 * `--target`: one name as before (kept as that `Target`, so a single name reads and reports as it always did), or a
 * comma-separated list whose names (kinds or sets) expand to their kinds, each kind once, in the order given.
 */
export function targetList(raw: string | undefined, fallback: ArenaTarget, problems: string[]): ArenaTarget {
  if (raw === undefined) return fallback;
  const names = raw.split(',').map((name) => name.trim());
  const allowed = Object.values(Target);
  if (names.length === 1) return oneOf(raw.trim(), 'target', allowed, Target.Default, problems);
  const kinds: ServerKind[] = [];
  for (const name of names) {
    const target = allowed.find((a) => a === name);
    if (target === undefined) {
      problems.push(
        `--target must be one of ${allowed.join(', ')} or a comma-separated list of them (got "${raw}")`,
      );
      return fallback;
    }
    for (const kind of targetKinds(target)) if (!kinds.includes(kind)) kinds.push(kind);
  }
  return kinds;
}

/**
 * The servers a round measures, in order: the target's kinds rotated left by `round` (with the default target,
 * round 0: P3 with the log, P3 with the SDK, raw; round 1: P3 with the SDK, raw, P3 with the log...), so no server
 * always runs first, on the cooler machine.
 */
export function serverKinds(target: ArenaTarget, round = 0): ServerKind[] {
  const kinds = targetKinds(target);
  const n = kinds.length;
  const shift = ((round % n) + n) % n;
  return [...kinds.slice(shift), ...kinds.slice(0, shift)];
}

export function numberFlag(
  raw: string | undefined,
  name: string,
  fallback: number,
  min: number,
  max: number,
  problems: string[],
): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value) || value < min || value > max) {
    problems.push(`--${name} must be a number from ${min} to ${max} (got "${raw}")`);
    return fallback;
  }
  return value;
}

export function intFlag(
  raw: string | undefined,
  name: string,
  fallback: number,
  min: number,
  max: number,
  problems: string[],
): number {
  const value = numberFlag(raw, name, fallback, min, max, problems);
  if (!Number.isInteger(value)) {
    problems.push(`--${name} must be an integer (got "${raw}")`);
    return fallback;
  }
  return value;
}

export function oneOf<T extends string>(
  raw: string | undefined,
  name: string,
  allowed: readonly T[],
  fallback: T,
  problems: string[],
): T {
  if (raw === undefined) return fallback;
  const found = allowed.find((a) => a === raw);
  if (found === undefined) problems.push(`--${name} must be one of ${allowed.join(', ')} (got "${raw}")`);
  return found ?? fallback;
}
