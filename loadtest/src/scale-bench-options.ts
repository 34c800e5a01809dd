import { parseArgs } from 'node:util';
import { intFlag, numberFlag } from './bench-options.js';

/**
 * The scale benchmarks of issue 16 ("scale per unit"): what one unit of the cluster costs as it grows.
 * - `idle-sockets`: joined sockets that send nothing, all on one gateway: the gateway's RSS per socket.
 * - `wide-room`: one room whose members are split over both gateways (README "single instance, multi nodes"):
 *   frames per second each member gets, and the delivery latency.
 * - `nats-per-gateway`: many rooms on gateway-1, exactly one on gateway-2: the NATS messages each gateway takes
 *   in, which must follow the rooms it serves, not the cluster.
 */
export const ScaleScenario = {
  IdleSockets: 'idle-sockets',
  WideRoom: 'wide-room',
  NatsPerGateway: 'nats-per-gateway',
} as const;
export type ScaleScenario = (typeof ScaleScenario)[keyof typeof ScaleScenario];
export const allScaleScenarios: readonly ScaleScenario[] = Object.values(ScaleScenario);

export interface ScaleBenchOptions {
  /** Run in this order, each on a fresh cluster of its own. */
  readonly scenarios: readonly ScaleScenario[];
  /** `idle-sockets`: joined sockets on gateway-1, in rooms of `idleMembersPerRoom`. */
  readonly sockets: number;
  /** `wide-room`: members of the one room, half on each gateway. */
  readonly members: number;
  /** `wide-room`: members that send (the others only listen), spread over the load processes and gateways. */
  readonly senders: number;
  /** `nats-per-gateway`: rooms; all but the last on gateway-1, the last on gateway-2. */
  readonly rooms: number;
  /** Length of each measured window (s). */
  readonly seconds: number;
  /** Between "everyone joined (and sends)" and the window (s): the join burst settles. */
  readonly warmup: number;
  /** Updates per second of each sending member. */
  readonly sendHz: number;
  /** Print only the JSON line. */
  readonly jsonOnly: boolean;
}

/** The figures: 10,000 idle sockets, a 2,000-member room, 100 rooms. */
export const defaultScaleBenchOptions: ScaleBenchOptions = {
  scenarios: allScaleScenarios,
  sockets: 10_000,
  members: 2000,
  senders: 4,
  rooms: 100,
  seconds: 10,
  warmup: 3,
  sendHz: 20,
  jsonOnly: false,
};

/**
 * Parses `--scenarios a,b --sockets N --members N --senders N --rooms N --seconds S --warmup S --send-hz N --json`;
 * every bad value is reported in one error.
 */
export function parseScaleBenchOptions(argv: readonly string[]): ScaleBenchOptions {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      scenarios: { type: 'string' },
      sockets: { type: 'string' },
      members: { type: 'string' },
      senders: { type: 'string' },
      rooms: { type: 'string' },
      seconds: { type: 'string' },
      warmup: { type: 'string' },
      'send-hz': { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  const problems: string[] = [];
  const d = defaultScaleBenchOptions;
  const scenarios = scenarioList(values.scenarios, d.scenarios, problems);
  const options: ScaleBenchOptions = {
    scenarios,
    // Two load processes open the sockets; each must stay under `ulimit -n` (20,000 here).
    sockets: intFlag(values.sockets, 'sockets', d.sockets, 1, 30_000, problems),
    members: intFlag(values.members, 'members', d.members, 4, 20_000, problems),
    senders: intFlag(values.senders, 'senders', d.senders, 1, 64, problems),
    // At least 2: gateway-1 serves all but one room, gateway-2 the last one.
    rooms: intFlag(values.rooms, 'rooms', d.rooms, 2, 1000, problems),
    seconds: numberFlag(values.seconds, 'seconds', d.seconds, 0.5, 600, problems),
    warmup: numberFlag(values.warmup, 'warmup', d.warmup, 0, 120, problems),
    sendHz: numberFlag(values['send-hz'], 'send-hz', d.sendHz, 1, 100, problems),
    jsonOnly: values.json ?? false,
  };
  if (options.senders > options.members) problems.push('--senders must not exceed --members');
  if (problems.length > 0) throw new Error(`bad arguments: ${problems.join('; ')}`);
  return options;
}

function scenarioList(
  raw: string | undefined,
  fallback: readonly ScaleScenario[],
  problems: string[],
): readonly ScaleScenario[] {
  if (raw === undefined) return fallback;
  const names = raw
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  const known = names.filter((name): name is ScaleScenario =>
    (allScaleScenarios as readonly string[]).includes(name),
  );
  const unknown = names.filter((name) => !(allScaleScenarios as readonly string[]).includes(name));
  if (unknown.length > 0 || known.length === 0)
    problems.push(
      `--scenarios takes a comma-separated list of ${allScaleScenarios.join(', ')} (got "${raw}")`,
    );
  return known.length === 0 ? fallback : [...new Set(known)];
}
