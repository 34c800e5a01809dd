import {
  ErrorCode,
  FrameType,
  P3Error,
  fail,
  isUuid,
  ok,
  type EntityFields,
  type EntityUpdate,
  type Frame,
  type GameEvent,
  type InputState,
  type JsonValue,
  type Op,
  type Result,
} from '@p3/protocol';
import { checkClientData, checkServerData } from './authority.js';
import type { Command, OpRef, Rejection } from './commands.js';
import { CompiledSchema, type CompiledType } from './compiled-schema.js';
import { EntityHandle, type EntityHost } from './entity-handle.js';
import { FieldStore, type EntryRef } from './field-store.js';
import { buildFrame, frameContentKey } from './frame-content.js';
import { FrameRing } from './frame-ring.js';
import { INPUT, OWNER, TYPE } from './internal-fields.js';
import { createRandom, frameSeed, type RandomSource } from './random.js';
import type { UndoLog } from './undo-log.js';
import { uuidv7 } from './uuid.js';
import type { ConnectionInfo, Entity, TickContext, WorldDefinition } from './world-definition.js';
import { entityUpdatesSince, fullEntityUpdate } from './world-delta.js';
import type { LoggedConnection, WorldLogRecord } from './world-log.js';
import {
  restoreWorldState,
  toPendingCommand,
  toWorldSnapshot,
  type PendingCommand,
  type WorldSnapshot,
} from './world-snapshot.js';

export interface WorldOptions {
  /** Ticks per second. Default 30. */
  readonly tickRate?: number;
  /** Past frames kept; late inputs inside this window are re-simulated. Default 20. */
  readonly bufferFrame?: number;
  /** Seed of the per-frame random source. Default 1. */
  readonly seed?: number;
  /** Wall-clock ms of frame 0, used only as the timestamp of ids the world creates. Default 0. */
  readonly frameZeroWallMs?: number;
  /** How far ahead of the current frame ops may be stamped. Default max(bufferFrame, tickRate). */
  readonly maxLeadFrames?: number;
  /**
   * With a snapshot: continue at this frame (at least the snapshot's) instead of the snapshot's own. Frames in
   * between were issued by an earlier run whose changes after the snapshot are lost (a crash): they are never
   * issued again, and a delta asked from one of them is answered with the full state.
   */
  readonly resumeFrame?: number;
  /**
   * Whether this world decides the state (`ctx.authority`). Default true (the server's rooms). A client's prediction
   * passes false: its tick logic sees `ctx.authority === false` and reads of non-replicable fields throw
   * UNKNOWN_FIELD (the client cannot know them, so logic depending on them must not run there).
   */
  readonly authority?: boolean;
  /**
   * Called whenever a command is scheduled (a client op, a connection, server code calling `createEntity`...): a
   * host that stopped ticking an idle world starts again (see `advanceTo`).
   */
  readonly onSchedule?: () => void;
}

export interface StepResult {
  /** The frame just simulated. */
  readonly frame: Frame;
  /** Past frames whose content changed after late inputs, re-issued as `corrected`, oldest first. */
  readonly corrections: readonly Frame[];
  /** Commands refused when applied (first run only). */
  readonly rejections: readonly Rejection[];
  /** Errors thrown by world logic during this step (the frame still completes). */
  readonly errors: readonly unknown[];
}

export interface DeltaState {
  /** False when the delta cannot be built (too old): `entities` is then the full state. */
  readonly complete: boolean;
  readonly entities: EntityUpdate[];
  readonly removed: string[];
}

/** Entities whose latest unstamped input frame is kept before stale entries are pruned ([WORLD-19]). */
const maxTrackedInputs = 256;

interface SimConnection {
  readonly id: string;
  readonly firstSeen: number;
  lastSeen: number;
}

/**
 * One room's simulation: pure (no timers, sockets or clock). A host calls `step()` at `tickRate` and feeds
 * ops with `submit()`; ops stamped for a past frame inside the buffer window make the next step rewind to that
 * frame, re-run the ticks and re-issue every frame whose content changed as `corrected`.
 *
 * @example
 * const world = new World(defineWorld({ schema }), { tickRate: 30, bufferFrame: 20 });
 * world.connect('c1');
 * world.submit('c1', { op: 'create', entityId, typeName: 'player', data: { x: 1 } });
 * const { frame } = world.step(); // frame.entities[0].created === true
 */
export class World implements EntityHost {
  readonly schema: CompiledSchema;
  readonly tickRate: number;
  readonly bufferFrame: number;
  readonly store: FieldStore;
  /** See `WorldOptions.authority`. */
  readonly authority: boolean;
  private readonly definition: WorldDefinition;
  private readonly seed: number;
  private readonly frameZeroWallMs: number;
  private readonly maxLead: number;
  private readonly ring: FrameRing;
  private current: number;
  private order = 0;
  private readonly scheduled = new Map<number, Command[]>();
  private resimFrom: number | undefined;
  /** Re-simulations recently issued: a delta for a client holding frame F must reach back before their start. */
  private readonly corrections: Array<{ readonly issuedAt: number; readonly from: number }> = [];
  private readonly reported = new WeakSet<Command>();
  private readonly pendingCreates = new Map<string, { owner: string | null; frame: number }>();
  /** Frame of the latest unstamped input change scheduled per entity ([WORLD-19]); entries in the past are stale. */
  private readonly unstampedInputs = new Map<string, number>();
  // Simulation indexes kept beside the store; rewinds restore them through recorded reverts.
  private readonly simConnections = new Map<string, SimConnection>();
  private readonly owned = new Map<string, Set<string>>();
  private readonly byType = new Map<string, Set<string>>();
  private readonly sortedCache = new Map<string, Entity[]>();
  /**
   * Handles of live entities, made on first access. A handle holds its store entry: a removed entity's handle is
   * dropped (a rewind that revives it makes a new one), so removed entries are not kept alive.
   */
  private readonly handles = new Map<string, EntityHandle>();
  // Network-level state: not simulation, never rewound.
  private readonly coverage = new Map<string, number>();
  /** Connections that declared themselves idle (`cover(.., {idle: true})`) and sent no ops since. */
  private readonly idleCovered = new Set<string>();
  private readonly onSchedule: (() => void) | undefined;
  /** Frames up to this one cannot be rewound (see `advanceTo`). */
  private sealedThrough = -1;
  /** Frames issued by an earlier run and lost with it (see `WorldOptions.resumeFrame`): deltas from them are full. */
  private lost: { readonly after: number; readonly through: number } | undefined;
  // Change log (see `trackLog`): commands scheduled ahead and connections changed since the last record.
  private logging = false;
  private loggedPending: Command[] = [];
  private readonly loggedConnections = new Set<string>();
  private connectionsRewound = false;
  // Per-tick state.
  private inTick = false;
  private tickFrame = 0;
  private tickRandom: RandomSource = createRandom(0);
  private tickEvents: GameEvent[] = [];
  private tickRejections: Rejection[] = [];
  private tickErrors: unknown[] = [];
  /** Built once: its getters read the tick's state, and an object literal with accessors is costly to create. */
  private tickContext: TickContext | undefined;

  constructor(definition: WorldDefinition, options: WorldOptions = {}, snapshot?: WorldSnapshot) {
    this.definition = definition;
    this.schema = new CompiledSchema(definition.schema);
    this.tickRate = options.tickRate ?? 30;
    this.bufferFrame = options.bufferFrame ?? 20;
    if (!(this.tickRate > 0 && this.tickRate <= 1000)) throw new RangeError('tickRate must be in (0, 1000]');
    if (!Number.isInteger(this.bufferFrame) || this.bufferFrame < 1)
      throw new RangeError('bufferFrame must be an integer >= 1');
    this.seed = options.seed ?? 1;
    this.authority = options.authority ?? true;
    this.frameZeroWallMs = options.frameZeroWallMs ?? 0;
    this.maxLead = options.maxLeadFrames ?? Math.max(this.bufferFrame, Math.ceil(this.tickRate));
    this.onSchedule = options.onSchedule;
    this.ring = new FrameRing(this.bufferFrame);
    if (snapshot) {
      const restored = restoreWorldState(snapshot, this.schema);
      this.store = restored.store;
      this.current = snapshot.frame;
      for (const c of restored.connections) this.simConnections.set(c.id, { ...c });
      for (const frame of restored.frames) this.ring.set({ frame, commands: [], undo: undefined });
      this.rebuildIndexes();
      const resume = options.resumeFrame ?? snapshot.frame;
      if (resume > snapshot.frame) {
        this.lost = { after: snapshot.frame, through: resume };
        this.current = resume;
      }
      this.restorePending(snapshot.pending ?? []);
    } else {
      this.store = new FieldStore();
      this.current = 0;
    }
  }

  /** The last simulated frame (0 before the first step). */
  get frame(): number {
    return this.current;
  }

  /** Milliseconds per tick. */
  get tickInterval(): number {
    return 1000 / this.tickRate;
  }

  frameTime(frame: number): number {
    return (frame * 1000) / this.tickRate;
  }

  // ------------------------------------------------------------------------------------------------------------
  // Input from clients and server code

  /**
   * Validates a client op (schema, authority, frame window) and schedules it. Returns the frame it applies at.
   * Refusals are typed: FRAME_DROPPED for frames older than the buffer window (report it as `frameDropped`).
   * The world keeps the op's data as it is (read only) while its frame is in the buffer: do not mutate it after.
   */
  submit(connectionId: string, op: Op, ref?: OpRef): Result<number> {
    const frame = op.frame ?? (op.op === 'input' ? this.unstampedInputFrame(op.entityId) : this.current + 1);
    const refused = this.checkFrame(frame);
    if (refused !== undefined) return refused;
    // Plain literals below, not a spread of a shared base: Node 20 builds `{...base, more}` an order of magnitude slower.
    const order = ++this.order;
    const origin = connectionId;
    // Kept as two numbers: a command lives as long as its frame is in the buffer, an OpRef object with it.
    const stamp = ref === undefined ? 0 : ref.stamp;
    const seq = ref === undefined ? 0 : ref.seq;
    switch (op.op) {
      case 'create': {
        const type = this.schema.type(op.typeName);
        if (!type)
          return fail(
            ErrorCode.UnknownEntityType,
            `unknown entity type "${op.typeName.slice(0, 64)}"`,
            op.typeName,
          );
        if (!isUuid(op.entityId)) return fail(ErrorCode.InvalidEntityId, 'entity ids are lowercase UUIDs');
        if (this.store.knows(op.entityId) || this.pendingCreates.has(op.entityId)) {
          return fail(ErrorCode.EntityExists, `entity ${op.entityId} already exists`, op.entityId);
        }
        const data = checkClientData(type, op.data, true);
        if (!data.ok) return data;
        this.pendingCreates.set(op.entityId, { owner: connectionId, frame });
        return this.enqueue({
          frame,
          order,
          origin,
          stamp,
          seq,
          kind: 'create',
          entityId: op.entityId,
          typeName: type.name,
          data: data.value,
          owner: connectionId,
        });
      }
      case 'update': {
        const entry = this.store.ref(op.entityId);
        const type = this.checkOwned(connectionId, op.entityId, entry);
        if (isFailure(type)) return type;
        const data = checkClientData(type, op.data, false);
        if (!data.ok) return data;
        return this.enqueue({
          frame,
          order,
          origin,
          stamp,
          seq,
          kind: 'update',
          entityId: op.entityId,
          data: data.value,
          entry,
        });
      }
      case 'delete': {
        const entry = this.store.ref(op.entityId);
        const refused = this.checkOwned(connectionId, op.entityId, entry);
        if (isFailure(refused)) return refused;
        return this.enqueue({
          frame,
          order,
          origin,
          stamp,
          seq,
          kind: 'delete',
          entityId: op.entityId,
          entry,
        });
      }
      case 'input': {
        const entry = this.store.ref(op.entityId);
        const refused = this.checkOwned(connectionId, op.entityId, entry);
        if (isFailure(refused)) return refused;
        if (op.frame === undefined) this.unstampedInputs.set(op.entityId, frame);
        return this.enqueue({
          frame,
          order,
          origin,
          stamp,
          seq,
          kind: 'input',
          entityId: op.entityId,
          input: { ...op.input },
          entry,
        });
      }
      case 'event':
        return this.enqueue({
          frame,
          order,
          origin,
          stamp,
          seq,
          kind: 'event',
          name: op.name,
          eventType: op.eventType,
          data: op.data,
        });
    }
  }

  /** Server code: creates an entity at the next frame (or `frame`). Returns its id. Throws on bad data. */
  createEntity(
    typeName: string,
    data: EntityFields = {},
    options: { owner?: string | null; id?: string; frame?: number } = {},
  ): string {
    const type = this.schema.require(typeName);
    const id = options.id ?? this.newId(this.current + 1);
    if (!isUuid(id)) throw new P3Error(ErrorCode.InvalidEntityId, 'entity ids are lowercase UUIDs');
    if (this.store.knows(id) || this.pendingCreates.has(id))
      throw new P3Error(ErrorCode.EntityExists, `entity ${id} already exists`);
    const frame = this.serverFrame(options.frame);
    const owner = options.owner ?? null;
    this.pendingCreates.set(id, { owner, frame });
    this.enqueue({
      frame,
      order: ++this.order,
      origin: null,
      kind: 'create',
      entityId: id,
      typeName,
      data: checkServerData(type, data, true),
      owner,
    });
    return id;
  }

  updateEntity(entityId: string, data: EntityFields, options: { frame?: number } = {}): void {
    const type = this.requireKnown(entityId);
    this.enqueue({
      frame: this.serverFrame(options.frame),
      order: ++this.order,
      origin: null,
      kind: 'update',
      entityId,
      data: checkServerData(type, data, false),
    });
  }

  deleteEntity(entityId: string, options: { frame?: number } = {}): void {
    this.requireKnown(entityId);
    this.enqueue({
      frame: this.serverFrame(options.frame),
      order: ++this.order,
      origin: null,
      kind: 'delete',
      entityId,
    });
  }

  setInputState(entityId: string, input: InputState, options: { frame?: number } = {}): void {
    this.requireKnown(entityId);
    this.enqueue({
      frame: this.serverFrame(options.frame),
      order: ++this.order,
      origin: null,
      kind: 'input',
      entityId,
      input: { ...input },
    });
  }

  emitEvent(name: string, type: string, data: JsonValue = null, options: { frame?: number } = {}): void {
    this.enqueue({
      frame: this.serverFrame(options.frame),
      order: ++this.order,
      origin: null,
      kind: 'event',
      name,
      eventType: type,
      data,
    });
  }

  /** A connection joins at the next frame (world `onConnect` runs inside that frame). */
  connect(connectionId: string): void {
    this.coverage.set(connectionId, this.current);
    this.idleCovered.delete(connectionId);
    this.enqueue({
      frame: this.current + 1,
      order: ++this.order,
      origin: connectionId,
      kind: 'connect',
      connectionId,
    });
  }

  /** A connection leaves at the next frame: its connection-bound entities are removed in that frame. */
  disconnect(connectionId: string): void {
    this.coverage.delete(connectionId);
    this.idleCovered.delete(connectionId);
    this.enqueue({
      frame: this.current + 1,
      order: ++this.order,
      origin: connectionId,
      kind: 'disconnect',
      connectionId,
    });
  }

  /**
   * The connection declares its inputs complete through `frame` (frames it covered can be `verified`). With
   * `idle`, it also declares that it sends nothing until its next ops: every frame ticked meanwhile is covered
   * (an op that then arrives for one of them corrects it, as any late op does). Without, an earlier idle
   * declaration ends: a client's ops call `cover` with their `through`, or `active` when they carry none.
   */
  cover(connectionId: string, frame: number, options?: { readonly idle?: boolean }): void {
    const covered = this.coverage.get(connectionId);
    if (covered === undefined) return;
    if (frame > covered) this.coverage.set(connectionId, frame);
    if (options?.idle === true) this.idleCovered.add(connectionId);
    else this.idleCovered.delete(connectionId);
  }

  /** The connection sent ops without declaring how far its inputs are complete: an idle declaration ends. */
  active(connectionId: string): void {
    this.idleCovered.delete(connectionId);
  }

  // ------------------------------------------------------------------------------------------------------------
  // Simulation

  /** Re-simulates after late ops if needed, then runs the next frame. */
  /**
   * The frame an unstamped input change applies at ([WORLD-19]): the next tick, or the frame after the entity's
   * previous unstamped change when that one is still ahead. Input state is sticky, so a press and its release
   * applied in one tick would never be seen by the tick logic; arriving together, they take consecutive frames.
   */
  private unstampedInputFrame(entityId: string): number {
    const next = this.current + 1;
    const previous = this.unstampedInputs.get(entityId);
    if (this.unstampedInputs.size > maxTrackedInputs) {
      for (const [id, at] of this.unstampedInputs) if (at < next) this.unstampedInputs.delete(id);
    }
    return previous === undefined || previous < next ? next : previous + 1;
  }

  step(): StepResult {
    this.tickRejections = [];
    this.tickErrors = [];
    const id = this.current + 1;
    if (this.resimFrom !== undefined && this.logging) this.connectionsRewound = true;
    const rewound = this.resimFrom !== undefined;
    const corrections = this.resimFrom === undefined ? [] : this.resimulate(this.resimFrom);
    if (corrections.length > 0) {
      this.corrections.push({ issuedAt: id, from: corrections[0]!.id });
      if (this.corrections.length > 256) this.corrections.shift();
    }
    // A rewind may have undone creations that the re-run did not repeat: their handles go too.
    if (rewound) {
      for (const handleId of this.handles.keys()) {
        if (!this.store.exists(handleId)) this.handles.delete(handleId);
      }
    }
    this.resimFrom = undefined;
    const commands = this.scheduled.get(id) ?? [];
    this.scheduled.delete(id);
    const record = this.runTick(id, commands);
    this.current = id;
    this.ring.set(record);
    return { frame: record.frame, corrections, rejections: this.tickRejections, errors: this.tickErrors };
  }

  /**
   * The earliest frame with work scheduled: commands ahead, or `frame + 1` when a late command waits to rewind the
   * history at the next step. Undefined when nothing is scheduled (a host may stop ticking: see `advanceTo`).
   */
  get nextWorkFrame(): number | undefined {
    if (this.resimFrom !== undefined) return this.current + 1;
    let next: number | undefined;
    for (const frame of this.scheduled.keys()) if (next === undefined || frame < next) next = frame;
    return next;
  }

  /**
   * Moves the frame clock to `frame` without simulating the frames in between, so that frame ids stay a function
   * of time while a host does not tick an idle world. Those frames change nothing and run no logic; commands
   * scheduled for them apply at `frame + 1`, in their order. Frames up to `frame` can no longer be rewound (ops
   * stamped for them are FRAME_DROPPED); `advanceTo(frame)` at the current frame only does that (a host that
   * stops ticking: frames before it are far in the past once it ticks again). A pending rewind must be stepped
   * before moving (`nextWorkFrame <= frame + 1`).
   */
  advanceTo(frame: number): void {
    if (frame < this.current) return;
    if (frame > this.current && this.resimFrom !== undefined)
      throw new RangeError('a rewind is pending: step before advancing');
    this.sealedThrough = Math.max(this.sealedThrough, frame);
    if (frame === this.current) return;
    const late: Command[] = [];
    for (const [at, list] of this.scheduled) {
      if (at > frame) continue;
      late.push(...list);
      this.scheduled.delete(at);
    }
    this.current = frame;
    if (late.length === 0) return;
    late.sort((a, b) => a.frame - b.frame || a.order - b.order);
    const moved = new Map<Command, Command>();
    for (const command of late) {
      const next = { ...command, frame: frame + 1 } as Command;
      moved.set(command, next);
      if (next.kind === 'create')
        this.pendingCreates.set(next.entityId, { owner: next.owner, frame: frame + 1 });
    }
    this.scheduled.set(frame + 1, [...moved.values(), ...(this.scheduled.get(frame + 1) ?? [])]);
    if (this.loggedPending.length > 0) this.loggedPending = this.loggedPending.map((c) => moved.get(c) ?? c);
  }

  private resimulate(from: number): Frame[] {
    for (let f = this.current; f >= from; f--) {
      const undo = this.ring.get(f)?.undo;
      if (undo) this.store.rollback(undo);
    }
    const corrections: Frame[] = [];
    for (let f = from; f <= this.current; f++) {
      const old = this.ring.get(f)!;
      const next = this.runTick(f, old.commands);
      if (frameContentKey(next.frame) !== frameContentKey(old.frame)) {
        next.frame = { ...next.frame, type: FrameType.Corrected };
        corrections.push(next.frame);
      } else {
        next.frame = { ...next.frame, type: old.frame.type };
      }
      this.ring.set(next);
    }
    return corrections;
  }

  private runTick(id: number, commands: Command[]): { frame: Frame; commands: Command[]; undo: UndoLog } {
    if (!inOrder(commands)) commands.sort((a, b) => a.order - b.order);
    const undo = this.ring.undoLogFor(id);
    this.store.record(undo);
    this.inTick = true;
    this.tickFrame = id;
    this.tickRandom = createRandom(frameSeed(this.seed, id));
    this.tickEvents = [];
    const ctx = (this.tickContext ??= this.context());
    try {
      for (const command of commands) this.apply(command, ctx);
      if (this.definition.tick) this.guarded(() => this.definition.tick!(ctx));
    } finally {
      this.inTick = false;
      this.store.stopRecording();
    }
    const type = this.isCovered(id) ? FrameType.Verified : FrameType.Generated;
    const frame = buildFrame(this.store, this.schema, {
      id,
      type,
      time: this.frameTime(id),
      events: this.tickEvents,
    });
    return { frame, commands, undo };
  }

  private apply(command: Command, ctx: TickContext): void {
    const id = this.tickFrame;
    if (command.origin !== null && command.kind !== 'connect' && command.kind !== 'disconnect')
      this.touchConnection(command.origin, id);
    switch (command.kind) {
      case 'connect': {
        if (this.simConnections.has(command.connectionId)) return;
        const connection: SimConnection = { id: command.connectionId, firstSeen: id, lastSeen: id };
        this.simConnections.set(connection.id, connection);
        if (this.logging) this.loggedConnections.add(connection.id);
        this.store.recordRevert(forgetConnection, { connections: this.simConnections, connection });
        if (this.definition.onConnect) this.guarded(() => this.definition.onConnect!(ctx, { ...connection }));
        return;
      }
      case 'disconnect': {
        const connection = this.simConnections.get(command.connectionId);
        if (!connection) return;
        if (this.definition.onDisconnect)
          this.guarded(() => this.definition.onDisconnect!(ctx, { ...connection }));
        for (const entityId of [...(this.owned.get(connection.id) ?? [])]) {
          const type = this.typeOf(entityId);
          if (type?.connectionBound) this.removeEntity(entityId);
        }
        this.simConnections.delete(connection.id);
        this.store.recordRevert(restoreConnection, { connections: this.simConnections, connection });
        if (this.logging) this.loggedConnections.add(connection.id);
        return;
      }
      case 'create': {
        this.pendingCreates.delete(command.entityId);
        if (this.store.knows(command.entityId))
          return this.reject(command, ErrorCode.EntityExists, `entity ${command.entityId} already exists`);
        this.createNow(this.schema.require(command.typeName), command.entityId, command.data, command.owner);
        return;
      }
      case 'update':
      case 'delete':
      case 'input': {
        const cached = command.entry;
        const ref = cached !== undefined && cached.alive ? cached : this.store.ref(command.entityId);
        if (ref === undefined || !ref.exists)
          return this.reject(command, ErrorCode.EntityNotFound, `entity ${command.entityId} does not exist`);
        if (command.origin !== null && this.store.getAt(ref, OWNER) !== command.origin) {
          return this.reject(command, ErrorCode.NotOwner, `entity ${command.entityId} is not yours`);
        }
        if (command.kind === 'delete') this.removeEntity(command.entityId);
        else if (command.kind === 'update') {
          const data = command.data;
          // for-in allocates no keys array (command data is checked client data or checkServerData's copy).
          for (const field in data) this.store.writeAt(ref, field, data[field]!, id);
        } else {
          const current = this.store.get(command.entityId, INPUT) as InputState | undefined;
          this.store.writeField(command.entityId, INPUT, { ...current, ...command.input }, id);
        }
        return;
      }
      case 'event':
        this.tickEvents.push({
          id: `${command.frame}:c${command.order}`,
          name: command.name,
          type: command.eventType,
          originalFrame: command.frame,
          data: command.data,
        });
        return;
    }
  }

  private guarded(run: () => void): void {
    try {
      run();
    } catch (error) {
      this.tickErrors.push(error);
    }
  }

  private reject(command: Command, code: ErrorCode, reason: string): void {
    if (this.reported.has(command)) return;
    this.reported.add(command);
    this.tickRejections.push({
      origin: command.origin,
      ref: command.seq ? { stamp: command.stamp ?? 0, seq: command.seq } : undefined,
      frame: command.frame,
      error: new P3Error(code, reason),
    });
  }

  // ------------------------------------------------------------------------------------------------------------
  // Entity writes inside a tick (EntityHost)

  /** @internal used by EntityHandle and the tick context */
  createNow(type: CompiledType, id: string, data: EntityFields, owner: string | null): void {
    const frame = this.tickFrame;
    const fields: Record<string, JsonValue> = {
      [TYPE]: type.name,
      [OWNER]: owner,
      ...type.defaults,
      ...data,
    };
    this.store.write(id, fields, frame);
    this.indexAdd(this.byType, type.name, id);
    if (owner !== null) this.indexAdd(this.owned, owner, id);
  }

  /** @internal */
  removeEntity(id: string): void {
    const type = this.typeOf(id);
    const owner = this.store.get(id, OWNER) as string | null | undefined;
    this.store.delete(id, this.tickFrame);
    this.handles.delete(id);
    if (type) this.indexRemove(this.byType, type.name, id);
    if (typeof owner === 'string') this.indexRemove(this.owned, owner, id);
  }

  /** @internal */
  writeAt(ref: EntryRef, field: string, value: JsonValue): void {
    this.assertInTick();
    this.store.writeAt(ref, field, value, this.tickFrame);
  }

  /** @internal */
  assertInTick(): void {
    if (!this.inTick) {
      throw new P3Error(
        ErrorCode.AccessDenied,
        'entities are written inside a tick; outside, use world.updateEntity()',
      );
    }
  }

  private indexAdd(index: Map<string, Set<string>>, key: string, id: string): void {
    let set = index.get(key);
    if (!set) index.set(key, (set = new Set()));
    if (set.has(id)) return;
    set.add(id);
    this.invalidateSorted(index, key);
    this.store.recordRevert(undoIndexAdd, { world: this, index, key, id });
  }

  private indexRemove(index: Map<string, Set<string>>, key: string, id: string): void {
    if (!index.get(key)?.has(id)) return;
    this.indexRemoveRaw(index, key, id);
    this.store.recordRevert(undoIndexRemove, { world: this, index, key, id });
  }

  /** @internal (revert steps) */
  indexAddRaw(index: Map<string, Set<string>>, key: string, id: string): void {
    let set = index.get(key);
    if (!set) index.set(key, (set = new Set()));
    set.add(id);
    this.invalidateSorted(index, key);
  }

  /** @internal (revert steps) */
  indexRemoveRaw(index: Map<string, Set<string>>, key: string, id: string): void {
    const set = index.get(key);
    set?.delete(id);
    if (set?.size === 0) index.delete(key);
    this.invalidateSorted(index, key);
  }

  private invalidateSorted(index: Map<string, Set<string>>, key: string): void {
    if (index !== this.byType) return;
    this.sortedCache.delete(key);
    this.sortedCache.delete('');
  }

  private rebuildIndexes(): void {
    for (const id of this.store.keys()) {
      if (!this.store.exists(id)) continue;
      const typeName = this.store.get(id, TYPE);
      if (typeof typeName === 'string')
        this.byType.set(typeName, (this.byType.get(typeName) ?? new Set()).add(id));
      const owner = this.store.get(id, OWNER);
      if (typeof owner === 'string') this.owned.set(owner, (this.owned.get(owner) ?? new Set()).add(id));
    }
  }

  // ------------------------------------------------------------------------------------------------------------
  // Reads

  entity(id: string): Entity | undefined {
    if (!this.store.exists(id)) return undefined;
    let handle = this.handles.get(id);
    if (!handle) {
      const type = this.typeOf(id);
      if (!type) return undefined;
      handle = new EntityHandle(this, id, type);
      this.handles.set(id, handle);
    }
    return handle;
  }

  /** Entity handles held (at most one per live entity; see `entity`). */
  get handleCount(): number {
    return this.handles.size;
  }

  /** Live entities (optionally of one type), ordered by id. */
  entities(typeName?: string): readonly Entity[] {
    const cacheKey = typeName ?? '';
    const cached = this.sortedCache.get(cacheKey);
    if (cached) return cached;
    const ids =
      typeName === undefined
        ? [...this.byType.values()].flatMap((s) => [...s])
        : [...(this.byType.get(typeName) ?? [])];
    ids.sort();
    const list = ids.map((id) => this.entity(id)).filter((e): e is Entity => e !== undefined);
    this.sortedCache.set(cacheKey, list);
    return list;
  }

  /** Ids of live entities a connection owns. */
  entitiesOf(connectionId: string): string[] {
    return [...(this.owned.get(connectionId) ?? [])].sort();
  }

  connections(): ConnectionInfo[] {
    return [...this.simConnections.values()].map((c) => ({ ...c }));
  }

  /** A live entity's type, kept with its entry (an entity never changes type). */
  private typeAt(ref: EntryRef): CompiledType | undefined {
    if (!ref.exists) return undefined;
    const memo = this.store.memoAt(ref) as CompiledType | undefined;
    if (memo !== undefined) return memo;
    const typeName = this.store.getAt(ref, TYPE);
    const type = typeof typeName === 'string' ? this.schema.type(typeName) : undefined;
    if (type !== undefined) this.store.setMemo(ref, type);
    return type;
  }

  /** A live entity's type (undefined for unknown and removed ids). */
  typeOf(id: string): CompiledType | undefined {
    const ref = this.store.ref(id);
    return ref === undefined ? undefined : this.typeAt(ref);
  }

  /** A past frame still in the buffer. */
  getFrame(id: number): Frame | undefined {
    return this.ring.get(id)?.frame;
  }

  /** Frames in the buffer, oldest first. */
  frames(): Frame[] {
    return this.ring.records().map((r) => r.frame);
  }

  /** Every live entity as a creation update (what a new client receives). */
  fullState(): EntityUpdate[] {
    const out: EntityUpdate[] = [];
    for (const id of this.store.keys()) {
      const update = fullEntityUpdate(this.store, this.schema, id);
      if (update) out.push(update);
    }
    return out;
  }

  /**
   * What changed after `frame` (reconnect, catch-up); the full state when `frame` is too old. Corrections issued
   * after `frame` rewrote older frames (their versions are those frames' ids), so the delta reaches back before them.
   */
  changesSince(frame: number): DeltaState {
    if (this.lost !== undefined && frame > this.lost.after && frame <= this.lost.through)
      return { complete: false, entities: this.fullState(), removed: [] };
    let since = frame;
    for (const c of this.corrections) if (c.issuedAt > frame) since = Math.min(since, c.from - 1);
    return (
      entityUpdatesSince(this.store, this.schema, since) ?? {
        complete: false,
        entities: this.fullState(),
        removed: [],
      }
    );
  }

  /**
   * Seed-000 snapshot of the world (entities, connections, buffered frames) plus field versions. `frames: false`
   * leaves the buffered frames out (a durable snapshot: a restored world cannot rewind them anyway, and they are
   * most of its size).
   */
  snapshot(options: { readonly frames?: boolean } = {}): WorldSnapshot {
    return toWorldSnapshot(
      this.store,
      this.schema,
      this.current,
      this.tickRate,
      this.connections(),
      options.frames === false ? [] : this.frames(),
      this.pendingCommands(),
    );
  }

  /** Commands scheduled for frames ahead, in the order they will apply. */
  private pendingCommands(): PendingCommand[] {
    const commands: Command[] = [];
    for (const list of this.scheduled.values()) for (const command of list) commands.push(command);
    return commands.sort((a, b) => a.frame - b.frame || a.order - b.order).map(toPendingCommand);
  }

  /**
   * Re-schedules a snapshot's pending commands: at their frames, or at the next frame when those passed (a world
   * resumed after lost frames). Each keeps its arrival order, which identifies it in log records too (recovery
   * drops a command listed both in a snapshot and in a record after it): new commands are numbered after them.
   */
  private restorePending(pending: readonly PendingCommand[]): void {
    for (const command of pending) if (command.order > this.order) this.order = command.order;
    for (const command of pending) {
      const frame = Math.max(command.frame, this.current + 1);
      const restored = (frame === command.frame ? command : { ...command, frame }) as Command;
      if (restored.kind === 'create')
        this.pendingCreates.set(restored.entityId, { owner: restored.owner, frame });
      const list = this.scheduled.get(frame);
      if (list) list.push(restored);
      else this.scheduled.set(frame, [restored]);
    }
  }

  // ------------------------------------------------------------------------------------------------------------
  // Change log

  /**
   * Starts recording changes for a durable log: from now on `takeLogRecord` after each `step` returns what the
   * step changed. Off by default (a world nobody logs pays nothing). Call it between steps.
   */
  trackLog(): void {
    if (this.logging) return;
    this.logging = true;
    this.store.trackLog();
  }

  /**
   * What changed since the previous call (entities, connections, commands scheduled ahead), or undefined when
   * nothing did. Take it after every `step` (and before any other write): a record covers whole steps.
   */
  takeLogRecord(): WorldLogRecord | undefined {
    if (!this.logging) return undefined;
    const entities = this.store.takeLogChanges(this.current);
    let pending: PendingCommand[] | undefined;
    if (this.loggedPending.length > 0) {
      for (const command of this.loggedPending) {
        if (command.frame > this.current) (pending ??= []).push(toPendingCommand(command));
      }
      this.loggedPending = [];
    }
    let connections: LoggedConnection[] | undefined;
    const whole = this.connectionsRewound;
    if (whole) {
      connections = [...this.simConnections.values()].map((c) => [c.id, c.firstSeen, c.lastSeen] as const);
    } else if (this.loggedConnections.size > 0) {
      connections = [];
      for (const id of this.loggedConnections) {
        const c = this.simConnections.get(id);
        connections.push(c === undefined ? [id] : [id, c.firstSeen, c.lastSeen]);
      }
    }
    this.loggedConnections.clear();
    this.connectionsRewound = false;
    if (entities.length === 0 && pending === undefined && connections === undefined) return undefined;
    return {
      frame: this.current,
      horizon: this.store.horizon,
      entities,
      ...(connections === undefined ? {} : { connections }),
      ...(whole ? { connectionsWhole: true as const } : {}),
      ...(pending === undefined ? {} : { pending }),
    };
  }

  /** Forgets removed entities older than `frame` (deltas since an older frame become full states). */
  pruneTombstones(frame: number): number {
    return this.store.pruneTombstones(frame);
  }

  // ------------------------------------------------------------------------------------------------------------

  private context(): TickContext {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const world = this;
    return {
      authority: this.authority,
      get frame() {
        return world.tickFrame;
      },
      get time() {
        return world.frameTime(world.tickFrame);
      },
      dt: 1 / this.tickRate,
      random: () => world.tickRandom.next(),
      entities: (typeName) => world.entities(typeName),
      entity: (id) => world.entity(id),
      create(typeName, data = {}, options = {}) {
        const type = world.schema.require(typeName);
        const id = world.newId(world.tickFrame);
        world.createNow(type, id, checkServerData(type, data, true), options.owner ?? null);
        return world.entity(id)!;
      },
      remove: (id) => {
        if (world.store.exists(id)) world.removeEntity(id);
      },
      emit(name, type, data = null) {
        const event: GameEvent = {
          id: `${world.tickFrame}:${world.tickEvents.length}`,
          name,
          type,
          originalFrame: world.tickFrame,
          data,
        };
        world.tickEvents.push(event);
        return event;
      },
      get events() {
        return world.tickEvents;
      },
      connections: () => world.connections(),
    };
  }

  private newId(frame: number): string {
    const random = this.inTick
      ? this.tickRandom
      : createRandom(frameSeed(this.seed ^ 0x5bd1e995, this.order++));
    return uuidv7(this.frameZeroWallMs + this.frameTime(frame), [
      random.nextUint32(),
      random.nextUint32(),
      random.nextUint32(),
    ]);
  }

  /** Whether every connected owner of entities covers `frame` (by ops or an idle cover). */
  private isCovered(frame: number): boolean {
    // By owner, not by connection: a big room of spectators owns nothing and costs its ticks nothing here.
    for (const connectionId of this.owned.keys()) {
      const covered = this.coverage.get(connectionId);
      if (covered === undefined || covered >= frame || this.idleCovered.has(connectionId)) continue;
      return false;
    }
    return true;
  }

  private touchConnection(connectionId: string, frame: number): void {
    const connection = this.simConnections.get(connectionId);
    if (!connection || connection.lastSeen === frame) return;
    this.store.recordRevert(restoreLastSeen, connection, connection.lastSeen);
    connection.lastSeen = frame;
    if (this.logging) this.loggedConnections.add(connectionId);
  }

  /** A refusal, or undefined when ops may target `frame` (no Result allocated on the submit hot path). */
  private checkFrame(frame: number): Failure | undefined {
    if (frame > this.current + this.maxLead) {
      return refuse(
        ErrorCode.FrameTooFarAhead,
        `frame ${frame} is more than ${this.maxLead} frames ahead of ${this.current}`,
      );
    }
    if (
      frame <= this.current &&
      (frame <= this.current - this.bufferFrame ||
        frame <= this.sealedThrough ||
        this.ring.get(frame)?.undo === undefined)
    ) {
      return refuse(
        ErrorCode.FrameDropped,
        `frame ${frame} is older than the buffer window (current ${this.current}, window ${this.bufferFrame})`,
      );
    }
    return undefined;
  }

  /** The entity's type when `connectionId` owns it, else the refusal (no Result allocated on the hot path). */
  private checkOwned(
    connectionId: string,
    entityId: string,
    ref: EntryRef | undefined,
  ): CompiledType | Failure {
    // The submit hot path: one lookup of the entry (by the caller, which keeps it), then its cells (most ops are
    // updates of live entities).
    if (ref !== undefined && ref.exists) {
      if (this.store.getAt(ref, OWNER) !== connectionId)
        return refuse(ErrorCode.NotOwner, `entity ${entityId} is not yours`, entityId);
      const type = this.typeAt(ref);
      return type ?? refuse(ErrorCode.EntityNotFound, `entity ${entityId} does not exist`, entityId);
    }
    const pending = this.pendingCreates.get(entityId);
    if (pending === undefined)
      return refuse(ErrorCode.EntityNotFound, `entity ${entityId} does not exist`, entityId);
    if (pending.owner !== connectionId)
      return refuse(ErrorCode.NotOwner, `entity ${entityId} is not yours`, entityId);
    const type = this.pendingType(entityId);
    return type ?? refuse(ErrorCode.EntityNotFound, `entity ${entityId} does not exist`, entityId);
  }

  private pendingType(entityId: string): CompiledType | undefined {
    const pending = this.pendingCreates.get(entityId);
    if (!pending) return undefined;
    const commands =
      pending.frame > this.current
        ? this.scheduled.get(pending.frame)
        : this.ring.get(pending.frame)?.commands;
    const create = commands?.find((c) => c.kind === 'create' && c.entityId === entityId);
    return create?.kind === 'create' ? this.schema.type(create.typeName) : undefined;
  }

  private requireKnown(entityId: string): CompiledType {
    const type = this.typeOf(entityId) ?? this.pendingType(entityId);
    if (!type)
      throw new P3Error(ErrorCode.EntityNotFound, `entity ${entityId} does not exist`, { detail: entityId });
    return type;
  }

  private serverFrame(frame: number | undefined): number {
    const f = frame ?? this.current + 1;
    const refused = this.checkFrame(f);
    if (refused !== undefined) throw refused.error;
    return f;
  }

  private enqueue(command: Command): Result<number> {
    if (command.frame > this.current) {
      let list = this.scheduled.get(command.frame);
      if (!list) this.scheduled.set(command.frame, (list = []));
      list.push(command);
      if (this.logging) this.loggedPending.push(command);
    } else {
      this.ring.get(command.frame)!.commands.push(command);
      this.resimFrom = this.resimFrom === undefined ? command.frame : Math.min(this.resimFrom, command.frame);
    }
    this.onSchedule?.();
    return ok(command.frame);
  }
}

/** A refusal as `fail` builds it. */
type Failure = { readonly ok: false; readonly error: P3Error };

/** `fail` with the narrower type the internal checks return. */
function refuse(code: ErrorCode, message: string, detail?: string): Failure {
  return fail(code, message, detail) as Failure;
}

function isFailure(value: CompiledType | Failure): value is Failure {
  return (value as Partial<Failure>).ok === false;
}

// Revert steps of the simulation's indexes: shared functions with their target as argument, so that recording one
// allocates no closure (touchConnection runs once per sending connection per tick).

function restoreLastSeen(connection: SimConnection, previous: number): void {
  connection.lastSeen = previous;
}

interface ConnectionStep {
  readonly connections: Map<string, SimConnection>;
  readonly connection: SimConnection;
}

function forgetConnection(step: ConnectionStep): void {
  step.connections.delete(step.connection.id);
}

function restoreConnection(step: ConnectionStep): void {
  step.connections.set(step.connection.id, step.connection);
}

interface IndexStep {
  readonly world: World;
  readonly index: Map<string, Set<string>>;
  readonly key: string;
  readonly id: string;
}

function undoIndexAdd(step: IndexStep): void {
  step.world.indexRemoveRaw(step.index, step.key, step.id);
}

function undoIndexRemove(step: IndexStep): void {
  step.world.indexAddRaw(step.index, step.key, step.id);
}

/** Commands usually arrive in order: check before sorting (sorting allocates and compares every pair). */
function inOrder(commands: readonly Command[]): boolean {
  for (let i = 1; i < commands.length; i++) if (commands[i - 1]!.order > commands[i]!.order) return false;
  return true;
}
