import { uuidv7 } from '@p3/engine';
import {
  BinaryCodec,
  ErrorCode,
  JsonCodec,
  P3Error,
  Subprotocol,
  isP3Error,
  isValidName,
  toWireSchema,
  type ClientCodec,
  type WireData,
} from '@p3/protocol';
import { ClockSync, performanceClock } from './clock-sync.js';
import { Connection } from './connection.js';
import { closeError } from './close-error.js';
import { sortedEntities, type EntityState, type WorldState } from './entity-state.js';
import { TypedEmitter, type Listener } from './events.js';
import { interpolateAt } from './interpolation.js';
import { resolveOptions, type P3ClientOptions, type ResolvedOptions } from './options.js';
import { Outbound } from './outbound.js';
import { Persistence } from './persistence.js';
import type { P3ClientEvents } from './client-events.js';
import { frameView, type P3Frame } from './p3-frame.js';
import { Predictor, overlayOps } from './prediction.js';
import { Replica, type HeldFrame } from './replica.js';
import { Session } from './session.js';
import { defaultTransport } from './transport.js';
import { checkEntityId, checkEvent, checkInput, checkWrite } from './write-guard.js';

/**
 * The P3 SDK for browsers and Node: joins a room over WebSocket, keeps the authoritative world with its recent
 * frames, predicts future frames, interpolates past ones, and sends this client's changes with sequence numbers
 * so nothing is applied twice or lost across reconnects and reloads.
 *
 * @example
 * const p3 = new P3Client({ host: 'localhost', port: 8000, instanceId: 'lobby' });
 * await p3.connect();
 * const me = p3.createEntity('player', { x: 10 });
 * p3.setInputState(me, { right: true });
 * p3.on('frame', (frame) => render(frame.getWorldEntities()));
 */
export class P3Client {
  private readonly options: ResolvedOptions;
  private readonly emitter: TypedEmitter<P3ClientEvents>;
  private readonly outbound: Outbound;
  private readonly replica = new Replica();
  private readonly clock: ClockSync;
  private readonly predictor: Predictor;
  private readonly session: Session;
  private readonly loaded: Promise<void>;
  private readonly views = new WeakMap<HeldFrame, P3Frame>();
  private readonly ready: {
    promise: Promise<void>;
    resolve(): void;
    reject(error: P3Error): void;
    settled: boolean;
  };
  private id: string;
  private connection: Connection | undefined;
  private started = false;
  private stopped = false;
  private local: { world: WorldState; sorted?: readonly EntityState[] } | undefined;
  private readonly persistence: Persistence;

  constructor(options: P3ClientOptions) {
    this.options = resolveOptions(options);
    this.id = this.options.clientId ?? randomClientId();
    this.emitter = new TypedEmitter<P3ClientEvents>((error, event) => {
      if (event !== 'error')
        this.emitter.emit('error', toP3Error(error, `a '${String(event)}' listener threw`));
    });
    this.outbound = new Outbound({
      stamp: freshStamp(),
      onChange: () => {
        this.invalidate();
        this.persistence.schedule();
      },
      onPush: () => this.session.queued(),
    });
    this.clock = new ClockSync(this.options.clock ?? performanceClock);
    this.predictor = new Predictor(this.options.world, (error) => this.emitter.emit('error', error));
    this.session = new Session({
      options: this.options,
      replica: this.replica,
      outbound: this.outbound,
      clock: this.clock,
      emitter: this.emitter,
      schema: this.options.world === undefined ? undefined : toWireSchema(this.options.world.schema),
      invalidate: () => this.invalidate(),
      localType: (entityId) => this.typeOf(entityId),
      onWelcome: () => {
        this.connection?.healthy();
        this.settle('resolve');
      },
    });
    this.persistence = new Persistence(
      this.options.offlineStore,
      () => this.outbound.persisted(this.id),
      (error) => this.emitter.emit('error', error),
    );
    this.ready = deferred();
    this.loaded = this.load();
    if (this.options.autoConnect) void this.connect().catch(() => undefined);
  }

  // ------------------------------------------------------------------------------------------------------------
  // Lifecycle

  /**
   * Loads the offline queue (if a store is set), opens the socket and resolves on the first welcome. Rejects when
   * the server closes with a terminal code before that, or on `disconnect()`. Called by the constructor unless
   * `autoConnect: false`; calling it again returns the same promise.
   */
  connect(): Promise<void> {
    if (this.stopped)
      return this.ready.settled
        ? this.ready.promise
        : Promise.reject(new P3Error(ErrorCode.Internal, 'this client was disconnected'));
    if (!this.started) {
      this.started = true;
      void this.loaded.then(() => this.open());
    }
    return this.ready.promise;
  }

  /**
   * Leaves the room and closes for good: unsent ops are sent first, then `leave` (the server removes this
   * client's connection-bound entities at once). The offline queue is persisted before the promise resolves.
   */
  async disconnect(): Promise<void> {
    if (!this.stopped) {
      this.stopped = true;
      this.session.leave();
      const closing = this.connection?.stop(1000, 'client disconnected') ?? false;
      if (!closing) this.session.closed(1000, 'client disconnected', false);
      this.settle('reject', new P3Error(ErrorCode.Internal, 'disconnected before the first welcome'));
    }
    await this.loaded;
    await this.persistence.flush();
  }

  on<K extends keyof P3ClientEvents>(event: K, listener: Listener<P3ClientEvents, K>): this {
    this.emitter.on(event, listener);
    return this;
  }

  off<K extends keyof P3ClientEvents>(event: K, listener: Listener<P3ClientEvents, K>): this {
    this.emitter.off(event, listener);
    return this;
  }

  // ------------------------------------------------------------------------------------------------------------
  // Reads

  /** Identity of this client (persisted with the offline queue). */
  get clientId(): string {
    return this.id;
  }

  /** The server's id for this client's connection (owner of the entities it creates); undefined before the first welcome. */
  get connectionId(): string | undefined {
    return this.session.connectionId;
  }

  /** True between a welcome and the next close. */
  get connected(): boolean {
    return this.session.joined;
  }

  get tickRate(): number {
    return this.session.tickRate;
  }

  /** Estimated room time now (ms, monotonic); the latest frame's time before clock sync. */
  get serverTime(): number {
    return this.clock.serverTime() ?? Math.max(0, this.replica.frame) * this.session.tickInterval;
  }

  /** Estimated current server frame (from clock sync); the latest authoritative frame before the first sample. */
  get serverFrame(): number {
    return this.clock.serverFrame(this.session.tickInterval) ?? Math.max(0, this.replica.frame);
  }

  /** Lowest measured round trip (ms); undefined before clock sync. */
  get rtt(): number | undefined {
    return this.clock.rtt;
  }

  /** Round trip of the latest ping (ms): follows a latency change at once, where `rtt` keeps the lowest of eight. */
  get lastRtt(): number | undefined {
    return this.clock.lastRtt;
  }

  /** Ops not yet acknowledged by the server (the offline queue). */
  get pendingOps(): number {
    return this.outbound.size;
  }

  /**
   * `0`: the present (latest authoritative frame); `-n`: the frame n before it, while held (the room's
   * bufferFrame); `+n`: the predicted frame n after it (type `predicted`), at most max(bufferFrame, tickRate)
   * ahead. Undefined before the first welcome or for a past frame no longer held.
   */
  getFrame(offset = 0): P3Frame | undefined {
    if (!Number.isInteger(offset)) throw new RangeError('getFrame takes an integer offset');
    const head = this.replica.head;
    if (head === undefined) return undefined;
    if (offset <= 0) {
      const held = offset === 0 ? head : this.replica.get(this.replica.frame + offset);
      return held === undefined ? undefined : this.view(held);
    }
    const maxAhead = Math.max(this.session.bufferFrame, Math.ceil(this.session.tickRate));
    if (offset > maxAhead) throw new RangeError(`getFrame predicts at most ${maxAhead} frames ahead`);
    return this.predictor.frame(
      () => ({
        base: head,
        ops: this.outbound.localOps(),
        unsentFrame: this.session.stampFrame(),
        connectionId: this.session.connectionId ?? null,
        tickRate: this.session.tickRate,
        bufferFrame: this.session.bufferFrame,
        schema: this.session.schema,
      }),
      offset,
    );
  }

  /** Every entity as this client sees it now: the authoritative world plus its own pending ops (optimistic). */
  getEntities(): readonly EntityState[] {
    const local = this.localState();
    return (local.sorted ??= Object.freeze(sortedEntities(local.world)));
  }

  getEntity(entityId: string): EntityState | undefined {
    return this.localWorld().get(entityId);
  }

  /**
   * Entities at (estimated server time - `delayMs`), with `interpolate: true` numeric fields blended between the
   * two authoritative frames around that time. Default delay: two tick intervals (so two frames are usually held).
   */
  getInterpolatedEntities(delayMs = 2 * this.session.tickInterval): EntityState[] {
    return interpolateAt(
      this.replica.frames(),
      this.serverTime - delayMs,
      this.session.tickInterval,
      this.session.schema,
    );
  }

  // ------------------------------------------------------------------------------------------------------------
  // Writes: queued (and persisted), applied optimistically at once, sent at once (at most `sendRate` batches a second).

  /** Creates an entity owned by this client; returns its id (UUIDv7 made here, so it is usable at once). */
  createEntity(typeName: string, data: Record<string, unknown> = {}): string {
    this.assertOpen();
    if (typeof typeName !== 'string' || !isValidName(typeName))
      throw new P3Error(ErrorCode.UnknownEntityType, 'invalid entity type name');
    const fields = checkWrite(this.session.schema, typeName, data, true);
    const entityId = uuidv7(Date.now(), randomWords());
    this.outbound.push({ op: 'create', entityId, typeName, data: fields });
    return entityId;
  }

  /** Writes `client` fields of an entity this client owns. Returns the id. */
  updateEntity(entityId: string, data: Record<string, unknown>): string {
    this.assertOpen();
    checkEntityId(entityId);
    const fields = checkWrite(this.session.schema, this.typeOf(entityId), data, false);
    this.outbound.push({ op: 'update', entityId, data: fields });
    return entityId;
  }

  deleteEntity(entityId: string): void {
    this.assertOpen();
    checkEntityId(entityId);
    this.outbound.push({ op: 'delete', entityId });
  }

  /** Sets named booleans of an owned entity's input state (merged, sticky until changed): `{ up: true }`. */
  setInputState(entityId: string, input: Record<string, boolean>): void {
    this.assertOpen();
    checkEntityId(entityId);
    this.outbound.push({ op: 'input', entityId, input: checkInput(input) });
  }

  /** Emits a game event at the frame this client's ops are stamped for. */
  emitEvent(event: { name: string; type: string; data?: unknown }): void {
    this.assertOpen();
    const { name, type, data } = checkEvent(event);
    this.outbound.push({ op: 'event', name, eventType: type, data });
  }

  // ------------------------------------------------------------------------------------------------------------

  private async load(): Promise<void> {
    const state = await this.persistence.load(this.options.clientId);
    // A reload: same identity and session stamp, so the server can tell replays from new ops.
    if (state !== null) this.id = state.clientId;
    this.outbound.restore(state);
  }

  private open(): void {
    if (this.stopped) return;
    const protocol = this.options.codec === 'json' ? Subprotocol.Json : Subprotocol.Binary;
    const transport = this.options.transport;
    const connection = new Connection(
      {
        url: this.options.url,
        fallbackUrls: this.options.fallbackUrls,
        protocol,
        transport: transport === undefined ? defaultTransport : () => Promise.resolve(transport),
        minDelayMs: this.options.minDelayMs,
        maxDelayMs: this.options.maxDelayMs,
      },
      {
        open: () =>
          this.guard(() =>
            this.session.opened(connection, this.codecFor(connection.protocol || protocol), this.id),
          ),
        message: (data: WireData) => this.guard(() => this.session.message(data)),
        close: (code, reason) => {
          let again = false;
          this.guard(() => {
            again = this.session.closed(code, reason, !this.stopped);
            if (!again) {
              this.stopped = true;
              this.settle('reject', closeError(code, reason));
            }
          });
          return again;
        },
        error: (error) => this.emitter.emit('error', error),
      },
    );
    this.connection = connection;
    connection.start();
  }

  private codecFor(protocol: string): ClientCodec {
    return protocol === Subprotocol.Json ? new JsonCodec() : new BinaryCodec();
  }

  /** Socket callbacks never throw: whatever escapes becomes an `error` event. */
  private guard(run: () => void): void {
    try {
      run();
    } catch (error) {
      this.emitter.emit('error', toP3Error(error, 'internal error while handling the connection'));
    }
  }

  private settle(how: 'resolve' | 'reject', error?: P3Error): void {
    if (this.ready.settled) return;
    if (how === 'resolve') this.ready.resolve();
    else this.ready.reject(error ?? new P3Error(ErrorCode.Internal, 'connection failed'));
  }

  private view(held: HeldFrame): P3Frame {
    let view = this.views.get(held);
    if (view === undefined) this.views.set(held, (view = frameView(held.frame, held)));
    return view;
  }

  private localState(): { world: WorldState; sorted?: readonly EntityState[] } {
    this.local ??= {
      world: overlayOps(
        this.replica.world,
        this.outbound.localOps().map((l) => l.op),
        this.session.connectionId ?? null,
        this.session.schema,
      ),
    };
    return this.local;
  }

  /**
   * Type of an entity as this client knows it: from the authoritative world, else from its own pending creation.
   * (Not from the local view: building it on every write would cost a world copy per `updateEntity`.)
   */
  private typeOf(entityId: string): string | undefined {
    return this.replica.typeOf(entityId) ?? this.outbound.createdType(entityId);
  }

  private localWorld(): WorldState {
    return this.localState().world;
  }

  /** Something the local view or the predictions depend on changed. */
  private invalidate(): void {
    this.local = undefined;
    this.predictor.invalidate();
  }

  private assertOpen(): void {
    if (this.stopped) throw new P3Error(ErrorCode.Internal, 'this client was disconnected; create a new one');
  }
}

function deferred(): {
  promise: Promise<void>;
  resolve(): void;
  reject(error: P3Error): void;
  settled: boolean;
} {
  let resolve!: () => void;
  let reject!: (error: P3Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Nobody may be awaiting (autoConnect): a rejection must not be reported as unhandled.
  promise.catch(() => undefined);
  const d = {
    promise,
    settled: false,
    resolve: () => {
      d.settled = true;
      resolve();
    },
    reject: (error: P3Error) => {
      d.settled = true;
      reject(error);
    },
  };
  return d;
}

function toP3Error(error: unknown, message: string): P3Error {
  return isP3Error(error) ? error : new P3Error(ErrorCode.Internal, message, { cause: error });
}

function randomWords(): [number, number, number] {
  const words = globalThis.crypto.getRandomValues(new Uint32Array(3));
  return [words[0]!, words[1]!, words[2]!];
}

function randomClientId(): string {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * A fresh session stamp: the wall-clock second. Only used as a counter that grows across process restarts, so a
 * client reusing its id without a persisted queue starts a new sequence instead of colliding with its last one
 * (the server treats a higher stamp as a new session). Clock sync never reads the wall clock.
 */
function freshStamp(): number {
  return Math.max(1, Math.floor(Date.now() / 1000) % 0xffff_0000);
}
