import {
  CompiledSchema,
  World,
  type CompiledType,
  defaultFieldValue,
  type SnapshotConnection,
  type WorldDefinition,
  type WorldSnapshot,
} from '@p3/engine';
import {
  ErrorCode,
  FrameType,
  P3Error,
  isP3Error,
  type EntityFields,
  type Op,
  type WorldSchema,
} from '@p3/protocol';
import { applyChanges, diffWorlds, entityState, type WorldState } from './entity-state.js';
import type { LocalOp } from './outbound.js';
import { frameView, type P3Frame } from './p3-frame.js';
import type { HeldFrame } from './replica.js';

/** What a prediction starts from. */
export interface PredictionInput {
  /** The latest authoritative frame and its world. */
  readonly base: HeldFrame;
  /** This client's ops not yet in an authoritative frame, oldest first. */
  readonly ops: readonly LocalOp[];
  /** Frame an op not sent yet would be stamped for now (estimated server frame + input delay), if known. */
  readonly unsentFrame: number | undefined;
  readonly connectionId: string | null;
  readonly tickRate: number;
  readonly bufferFrame: number;
  /** The room's wire schema (defaults of optimistic creations). */
  readonly schema: WorldSchema | undefined;
}

interface Prediction {
  readonly base: number;
  readonly interval: number;
  readonly frames: P3Frame[];
  /** The simulation; undefined without a world definition, and once a predicted tick failed. */
  world: World | undefined;
  state: WorldState;
  readonly input: PredictionInput;
}

/** Far enough that no queued op is refused as "too far ahead" by the local simulation. */
const unboundedLead = 1_000_000;

/**
 * Predicted frames (`getFrame(+x)`, type `predicted`). With a world definition, the engine runs the same pure tick
 * logic the server runs: a World is restored from the authoritative world at the latest frame, this client's
 * pending ops are submitted at their frames, and it steps forward. Without one there is no logic to run: every
 * future frame is the authoritative world plus the pending ops applied optimistically. Predictions are cached
 * until `invalidate()` (a new authoritative frame, a correction, a local op, an ack or a rejection): a correction
 * therefore rolls the prediction back to the corrected state and replays the pending ops on top of it.
 *
 * The simulation is not the authority (`ctx.authority` is false): logic the server alone can run is skipped, and a
 * read of a non-replicable field throws, since the client cannot know it. A predicted tick whose logic throws is
 * not shown: from that frame on the prediction is the optimistic one (authoritative world + pending ops), and the
 * error is reported once through `onError`. So a prediction never invents state the server does not have (an idle
 * player stays where the server has it).
 */
export class Predictor {
  private readonly compiled: CompiledSchema | undefined;
  private cache: Prediction | undefined;
  /** Messages of prediction failures already reported (each is reported once, not once per prediction). */
  private readonly reported = new Set<string>();

  constructor(
    private readonly definition: WorldDefinition | undefined,
    private readonly onError: (error: P3Error) => void = () => undefined,
  ) {
    this.compiled = definition === undefined ? undefined : new CompiledSchema(definition.schema);
  }

  invalidate(): void {
    this.cache = undefined;
  }

  /** Predicted frame `base + ahead` (ahead >= 1). */
  frame(input: () => PredictionInput, ahead: number): P3Frame {
    let cache = this.cache;
    if (cache === undefined) {
      const source = input();
      cache = this.cache = this.definition === undefined ? this.optimistic(source) : this.simulated(source);
    }
    while (cache.frames.length < ahead) cache.frames.push(this.next(cache));
    return cache.frames[ahead - 1]!;
  }

  private optimistic(input: PredictionInput): Prediction {
    const state = overlayOps(
      input.base.world,
      input.ops.map((l) => l.op),
      input.connectionId,
      input.schema,
    );
    const id = input.base.frame.id + 1;
    const { entities, removed } = diffWorlds(input.base.world, state);
    const interval = 1000 / input.tickRate;
    const first = frameView(
      { id, type: FrameType.Predicted, time: id * interval, events: [], entities, removed },
      { world: state },
    );
    return { base: input.base.frame.id, interval, frames: [first], world: undefined, state, input };
  }

  private simulated(input: PredictionInput): Prediction {
    const base = input.base.frame.id;
    const world = new World(
      this.definition!,
      {
        tickRate: input.tickRate,
        bufferFrame: Math.max(1, input.bufferFrame),
        maxLeadFrames: unboundedLead,
        authority: false,
      },
      this.snapshotOf(input.base, input.tickRate),
    );
    const connectionId = input.connectionId ?? '';
    for (const local of input.ops) {
      const frame = Math.max(base + 1, local.frame ?? input.unsentFrame ?? base + 1);
      // Ops the simulation refuses (not ours, unknown entity) are left out, as the server will leave them out.
      world.submit(connectionId, { ...local.op, frame });
    }
    return { base, interval: 1000 / input.tickRate, frames: [], world, state: input.base.world, input };
  }

  private next(cache: Prediction): P3Frame {
    const id = cache.base + cache.frames.length + 1;
    if (cache.world === undefined) {
      // No logic: later frames change nothing.
      return frameView(
        { id, type: FrameType.Predicted, time: id * cache.interval, events: [], entities: [], removed: [] },
        { world: cache.state },
      );
    }
    const { frame, errors } = cache.world.step();
    if (errors.length > 0) {
      // Logic that cannot run here (e.g. it reads a server-only field outside `ctx.authority`): nothing it computed
      // is shown. The rest of this prediction is the authoritative world plus the pending ops, without logic.
      this.report(id, errors[0]);
      const state = this.optimistic(cache.input).state;
      const { entities, removed } = diffWorlds(cache.state, state);
      cache.world = undefined;
      cache.state = state;
      return frameView(
        { id, type: FrameType.Predicted, time: id * cache.interval, events: [], entities, removed },
        { world: state },
      );
    }
    cache.state = applyChanges(cache.state, frame.entities, frame.removed);
    return frameView({ ...frame, type: FrameType.Predicted }, { world: cache.state });
  }

  private report(frame: number, cause: unknown): void {
    const message = cause instanceof Error ? cause.message : String(cause);
    if (this.reported.has(message)) return;
    if (this.reported.size < 64) this.reported.add(message);
    const code = isP3Error(cause) ? cause.code : ErrorCode.Internal;
    this.onError(
      new P3Error(code, `prediction of frame ${frame} stopped (world logic threw): ${message}`, { cause }),
    );
  }

  /** The authoritative world as an engine snapshot (fields the server keeps to itself are left out: unknown here). */
  private snapshotOf(base: HeldFrame, tickRate: number): WorldSnapshot {
    const frame = base.frame.id;
    const owned = new Map<string, string[]>();
    const entities = [...base.world.values()].map((e) => {
      if (e.owner !== null) owned.set(e.owner, [...(owned.get(e.owner) ?? []), e.id]);
      return {
        id: e.id,
        typeName: e.typeName,
        firstSeen: frame,
        lastSeen: frame,
        data: { ...replicableDefaults(this.compiled?.type(e.typeName)), ...e.fields },
        connectionId: e.owner,
        input: { ...e.input },
        versions: {},
      };
    });
    const connections: SnapshotConnection[] = [...owned].map(([id, list]) => ({
      id,
      firstSeen: 0,
      lastSeen: frame,
      entities: list,
    }));
    return {
      format: 'p3.world/1',
      frame,
      tickRate,
      entities,
      connections,
      frames: [],
      tombstones: [],
      horizon: 0,
    };
  }
}

/**
 * The world with ops applied the way the server would apply them, minus tick logic: creations (owned by
 * `connectionId`, unset fields at their defaults), field updates, input merges, deletions. Events change nothing.
 */
export function overlayOps(
  world: WorldState,
  ops: readonly Op[],
  connectionId: string | null,
  schema: WorldSchema | undefined,
): WorldState {
  if (ops.length === 0) return world;
  const next = new Map(world);
  for (const op of ops) {
    switch (op.op) {
      case 'create': {
        if (next.has(op.entityId)) break;
        next.set(
          op.entityId,
          entityState(op.entityId, op.typeName, connectionId, {
            ...defaultsOf(schema, op.typeName),
            ...op.data,
          }),
        );
        break;
      }
      case 'update': {
        const e = next.get(op.entityId);
        if (e) next.set(e.id, entityState(e.id, e.typeName, e.owner, { ...e.fields, ...op.data }, e.input));
        break;
      }
      case 'input': {
        const e = next.get(op.entityId);
        if (e) next.set(e.id, entityState(e.id, e.typeName, e.owner, e.fields, { ...e.input, ...op.input }));
        break;
      }
      case 'delete':
        next.delete(op.entityId);
        break;
      case 'event':
        break;
    }
  }
  return next;
}

function replicableDefaults(type: CompiledType | undefined): EntityFields {
  const out: EntityFields = {};
  if (type === undefined) return out;
  for (const name of type.replicableNames) out[name] = type.defaults[name]!;
  return out;
}

function defaultsOf(schema: WorldSchema | undefined, typeName: string): EntityFields {
  const type = schema?.[typeName];
  if (!type) return {};
  const out: EntityFields = {};
  for (const [name, spec] of Object.entries(type.fields)) out[name] = defaultFieldValue(spec);
  return out;
}
