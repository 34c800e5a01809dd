import {
  defaultArenaOptions,
  type ArenaTarget,
  serverKinds,
  Target,
  type ArenaOptions,
  type ServerKind,
} from './bench-options.js';

/**
 * The workload for `npm run bench:sdk`: 10 rooms x 25 clients in two load processes, 20 Hz updates,
 * 30 Hz ticks and patches, 5 s warm-up, 20 s window, 3 rounds. The flags are the arena bench's.
 */
export const defaultSdkBenchOptions: ArenaOptions = { ...defaultArenaOptions, rooms: 10, clients: 25 };

/** What bench:sdk measures by default, in the order of round 0: P3's SDK, Colyseus's, and the raw uWS floor. */
export const sdkBenchKinds: readonly ServerKind[] = [Target.P3Sdk, Target.Colyseus, Target.Raw];

/** The kinds a bench:sdk `--target` names: `default` or `all` (= `both`) for the three, else those kinds. */
export function sdkTargetKinds(target: ArenaTarget): readonly ServerKind[] {
  return target === Target.Default || target === Target.All || target === Target.Both
    ? sdkBenchKinds
    : serverKinds(target);
}
