import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import {
  ErrorCode,
  P3Error,
  type EntityFields,
  type EntityTypeSpec,
  type FieldSpec,
  type Frame,
  type InputState,
  type JsonValue,
  type WorldSchema,
} from '@p3/protocol';
import { addEntityType, defineWorld, type Entity, type TickContext, type WorldDefinition } from '@p3/engine';
import {
  createFanout,
  defaultGatewayConfig,
  ecsSyncEndpoint,
  roomsApi,
  startGateway,
  type Authenticator,
  type GatewayConfig,
  type GatewayExtension,
  type GatewayHandle,
  type StaticFile,
} from '@p3/gateway';
import {
  DocumentRooms,
  FileRoomLog,
  LocalDocumentApi,
  FileSnapshotStore,
  MemoryRoomLog,
  MemorySnapshotStore,
  PostgresRoomLog,
  PostgresSnapshotStore,
  randomId,
  type MemberInfo,
  type RoomKey,
  type RoomLog,
  type SnapshotStore,
  type TickedRoom,
} from '@p3/runtime';
import {
  defaultSimulatorConfig,
  startSimulator,
  type SimulatorConfig,
  type SimulatorHandle,
} from '@p3/simulator';
import { pino, type Level, type Logger } from 'pino';
import pg from 'pg';
import { Counter, Registry, collectDefaultMetrics } from 'prom-client';
import { prepareDataDir } from './data-dir.js';
import { P3Connection } from './p3-connection.js';

export interface P3ServerOptions {
  readonly host?: string;
  /** 0 picks a free port; read it from `server.port` after `listen()`. Default 8000. */
  readonly port?: number;
  readonly tickRate?: number;
  readonly bufferFrame?: number;
  /** The default world instance (room) for server-side calls; clients may join any instance. Auto-generated if omitted. */
  readonly instanceId?: string | number;
  /** A world written with `defineWorld`; `createEntityType` and `on('tick')` add to it. */
  readonly world?: WorldDefinition;
  /**
   * Where rooms are kept: `file` (default, under `dataDir`), `postgres` (at `databaseUrl`), `memory` (nothing
   * survives a restart), or any SnapshotStore (give it a `log` for durability `log`).
   */
  readonly storage?: 'file' | 'memory' | 'postgres' | SnapshotStore;
  /**
   * Default `./data`. Created when missing; `listen()` rejects with a ConfigError before listening when it is not a
   * directory it can write to (a probe file is written, fsynced and removed).
   */
  readonly dataDir?: string;
  /** Postgres storage. Default `P3_DATABASE_URL`, else `postgres://postgres@127.0.0.1:5432/postgres`. */
  readonly databaseUrl?: string;
  /**
   * What an ack means. `log` (default with file and Postgres storage): a change is acknowledged (op acks,
   * `POST /changes` answers, ecs-sync acks, SSE event ids) only once it is in the room log, so a crash loses
   * nothing acknowledged. `snapshot`: acks go out at once and a crash loses what changed since the last snapshot.
   */
  readonly durability?: 'log' | 'snapshot';
  /** The room log, with a custom `storage` store (file and Postgres storage open their own). */
  readonly log?: RoomLog;
  /** File log group commit: under load at most one fdatasync per this many ms. Default 20. */
  readonly logCommitIntervalMs?: number;
  readonly logger?: Logger;
  readonly logLevel?: Level | 'silent';
  readonly auth?: Authenticator;
  readonly gateway?: Partial<GatewayConfig>;
  readonly simulator?: Partial<SimulatorConfig>;
  readonly staticFiles?: ReadonlyMap<string, StaticFile>;
  /** More routes on the gateway (e.g. the demo's `/demo/token`), registered after the built-in ones. */
  readonly extensions?: readonly GatewayExtension[];
  /** Document rooms (`/ecs-sync` and the HTTP API): idle close and save throttle. */
  readonly documents?: {
    readonly idleTimeoutMs?: number;
    /** At most one snapshot save per room per this many ms (default 1000; `npm start`: `P3_DOC_SAVE_THROTTLE_MS`). */
    readonly saveThrottleMs?: number;
    readonly tombstoneRetention?: number;
    /** Document rooms open at once (default: the simulator's `maxRooms`, P3_MAX_ROOMS); `Infinity`: no limit. */
    readonly maxRooms?: number;
  };
}

export interface FrameDroppedInfo {
  readonly instanceId: string;
  readonly connectionId: string;
  readonly frame: number;
  readonly current: number;
  readonly reason: string;
}

export interface P3ServerEvents {
  connection: [connection: P3Connection];
  disconnection: [connection: P3Connection];
  frameDropped: [info: FrameDroppedInfo];
  frame: [frame: Frame, instanceId: string];
  error: [error: unknown];
}

/**
 * The single-process P3 server (seed 000): gateway, simulator and embedded storage in one process.
 *
 * @example
 * const p3 = new P3Server({ port: 8000, tickRate: 30, bufferFrame: 20, instanceId: 'arena' });
 * p3.createEntityType('player', { fields: { x: { dataType: 'number', min: 0, max: 100, accessControl: 'client' } }, connectionBound: true });
 * p3.on('tick', (ctx) => { for (const p of ctx.entities('player')) if (p.isOn('right')) p.set('x', p.get<number>('x') + 1); });
 * p3.on('connection', (c) => c.on('entityCreated', (e) => console.log(c.id, 'created', e.id)));
 * await p3.listen();
 */
export class P3Server {
  readonly instanceId: string;
  private readonly options: P3ServerOptions;
  private schema: WorldSchema;
  private readonly tickHandlers: Array<(ctx: TickContext) => void> = [];
  private readonly connections = new Map<string, P3Connection>();
  private readonly logger: Logger;
  private simulator: SimulatorHandle | undefined;
  private gateway: GatewayHandle | undefined;
  private store: SnapshotStore | undefined;
  private log: RoomLog | undefined;
  private releaseStorage: (() => Promise<void>) | undefined;
  private started = false;
  private readonly emitter = new EventEmitter();

  constructor(options: P3ServerOptions = {}) {
    this.options = options;
    this.instanceId = options.instanceId === undefined ? randomId(8) : String(options.instanceId);
    this.schema = options.world?.schema ?? {};
    this.logger = options.logger ?? pino({ level: options.logLevel ?? process.env.P3_LOG_LEVEL ?? 'info' });
  }

  /** The port the server listens on (after `listen()`). */
  get port(): number {
    if (!this.gateway) throw new P3Error(ErrorCode.Internal, 'the server is not listening yet');
    return this.gateway.port;
  }

  /** Declares an entity type (before `listen()`: rooms compile their schema when they open). */
  createEntityType(
    typeName: string,
    spec: { fields: Record<string, FieldSpec>; connectionBound?: boolean },
  ): this {
    if (this.started) throw new P3Error(ErrorCode.InvalidSchema, 'declare entity types before listen()');
    const typeSpec: EntityTypeSpec =
      spec.connectionBound === undefined
        ? { fields: spec.fields }
        : { fields: spec.fields, connectionBound: spec.connectionBound };
    this.schema = addEntityType(this.schema, typeName, typeSpec);
    return this;
  }

  /** `tick` handlers are world logic: they run inside every frame and must be deterministic (see TickContext). */
  on(event: 'tick', listener: (ctx: TickContext) => void): this;
  on<K extends keyof P3ServerEvents>(event: K, listener: (...args: P3ServerEvents[K]) => void): this;
  on(event: string, listener: (...args: never[]) => void): this {
    if (event === 'tick') this.tickHandlers.push(listener as (ctx: TickContext) => void);
    else this.emitter.on(event, listener as (...args: unknown[]) => void);
    return this;
  }

  off<K extends keyof P3ServerEvents>(event: K, listener: (...args: P3ServerEvents[K]) => void): this {
    this.emitter.off(event, listener as (...args: unknown[]) => void);
    return this;
  }

  private emit<K extends keyof P3ServerEvents>(event: K, ...args: P3ServerEvents[K]): void {
    this.emitter.emit(event, ...args);
  }

  /** Starts listening; resolves once the default instance is open and the port is bound. */
  async listen(): Promise<this> {
    if (this.started) return this;
    this.started = true;
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    const gatewayConfig: GatewayConfig = {
      ...defaultGatewayConfig,
      host: this.options.host ?? defaultGatewayConfig.host,
      port: this.options.port ?? defaultGatewayConfig.port,
      ...this.options.gateway,
    };
    const simulatorConfig: SimulatorConfig = {
      ...defaultSimulatorConfig,
      tickRate: this.options.tickRate ?? defaultSimulatorConfig.tickRate,
      bufferFrame: this.options.bufferFrame ?? defaultSimulatorConfig.bufferFrame,
      ...this.options.simulator,
    };
    const { store, log, release, describe } = await this.openStorage();
    this.store = store;
    this.log = log;
    this.releaseStorage = release;
    this.logger.info(describe, `storage: ${describe.storage}, durability: ${describe.durability}`);
    if (log instanceof FileRoomLog) registerFileLogMetrics(registry, log);
    const { fanout, metrics } = createFanout(gatewayConfig, registry, this.logger);
    this.simulator = startSimulator(simulatorConfig, {
      world: this.worldDefinition(),
      store,
      ...(log === undefined ? {} : { log }),
      output: fanout,
      logger: this.logger,
      registry,
      events: {
        connection: (room, member) => this.emit('connection', this.connectionFor(room, member)),
        disconnection: (room, member) => {
          const connection = this.connectionFor(room, member);
          this.connections.delete(connectionKey(room.key.room, member.connectionId));
          this.emit('disconnection', connection);
        },
        entityCreated: (room, connectionId, entity) => {
          this.connections.get(connectionKey(room.key.room, connectionId))?.emit('entityCreated', entity);
        },
        frameDropped: (room, info) => this.emit('frameDropped', { instanceId: room.key.room, ...info }),
        frame: (room, frame) => this.emit('frame', frame, room.key.room),
        error: (_room, error) => {
          if (this.emitter.listenerCount('error') > 0) this.emit('error', error);
        },
      },
    });
    const documents = new DocumentRooms({
      store,
      ...(log === undefined ? {} : { log }),
      tenant: gatewayConfig.tenant,
      logger: this.logger,
      // The same bound as world rooms (P3_MAX_ROOMS), counted apart.
      maxRooms: simulatorConfig.maxRooms === 0 ? Infinity : simulatorConfig.maxRooms,
      ...this.options.documents,
    });
    this.gateway = await startGateway(gatewayConfig, {
      rooms: this.simulator.host,
      fanout,
      metrics,
      logger: this.logger,
      registry,
      // Not ready while snapshot saves or room log appends fail (RoomHost.healthy).
      ready: () => this.simulator?.host.healthy ?? true,
      ...(this.options.auth === undefined ? {} : { auth: this.options.auth }),
      ...(this.options.staticFiles === undefined ? {} : { staticFiles: this.options.staticFiles }),
      extensions: [
        ecsSyncEndpoint({ rooms: documents, idleTimeoutSeconds: gatewayConfig.idleTimeoutSeconds }),
        roomsApi({ rooms: new LocalDocumentApi(documents) }),
        ...(this.options.extensions ?? []),
      ],
    });
    await this.simulator.host.open(this.key(this.instanceId), { pinned: true });
    return this;
  }

  /** Connections of every instance, or of one. */
  getConnections(instanceId?: string | number): P3Connection[] {
    const all = [...this.connections.values()];
    return instanceId === undefined ? all : all.filter((c) => c.instanceId === String(instanceId));
  }

  /** A hosted instance (opened and pinned if needed): the server-side API of one room. */
  async instance(instanceId: string | number = this.instanceId): Promise<TickedRoom> {
    return this.requireSimulator().host.open(this.key(String(instanceId)), { pinned: true });
  }

  /** Creates an entity in the default instance at its next frame; returns its id. */
  createEntity(typeName: string, data: EntityFields = {}, options: { owner?: string | null } = {}): string {
    return this.defaultRoom().world.createEntity(typeName, data, options);
  }

  updateEntity(entityId: string, data: EntityFields): string {
    this.defaultRoom().world.updateEntity(entityId, data);
    return entityId;
  }

  deleteEntity(entityId: string): void {
    this.defaultRoom().world.deleteEntity(entityId);
  }

  setInputState(entityId: string, input: InputState): void {
    this.defaultRoom().world.setInputState(entityId, input);
  }

  emitEvent(event: { name: string; type: string; data?: JsonValue }): void {
    this.defaultRoom().world.emitEvent(event.name, event.type, event.data ?? null);
  }

  getEntities(typeName?: string): readonly Entity[] {
    return this.defaultRoom().world.entities(typeName);
  }

  /** A past frame of the default instance: 0 = the latest, -n = n frames before it (within bufferFrame). */
  getFrame(offset = 0): Frame | undefined {
    const world = this.defaultRoom().world;
    return world.getFrame(world.frame + Math.min(0, offset));
  }

  /** Drains: clients are told to reconnect, rooms take a final snapshot, then everything stops. */
  async close(): Promise<void> {
    await this.gateway?.close();
    await this.simulator?.close();
    await this.log?.close();
    await this.store?.close();
    await this.releaseStorage?.();
    this.gateway = undefined;
    this.simulator = undefined;
    this.log = undefined;
    this.releaseStorage = undefined;
  }

  private worldDefinition(): WorldDefinition {
    const base = this.options.world;
    const handlers = this.tickHandlers;
    return defineWorld({
      ...base,
      schema: this.schema,
      tick: (ctx) => {
        base?.tick?.(ctx);
        for (const handler of handlers) handler(ctx);
      },
    });
  }

  /** The snapshot store and, with durability `log`, the room log beside it (see P3ServerOptions.durability). */
  private async openStorage(): Promise<{
    store: SnapshotStore;
    log: RoomLog | undefined;
    release: (() => Promise<void>) | undefined;
    describe: { storage: string; durability: 'log' | 'snapshot'; dataDir?: string };
  }> {
    const { options } = this;
    const storage = options.storage ?? 'file';
    const durable = storage === 'file' || storage === 'postgres' || options.log !== undefined;
    const durability = options.durability ?? (durable ? 'log' : 'snapshot');
    const withLog = durability === 'log';
    if (storage === 'memory') {
      return {
        store: new MemorySnapshotStore(),
        log: withLog ? (options.log ?? new MemoryRoomLog()) : undefined,
        release: undefined,
        describe: { storage: 'memory', durability },
      };
    }
    if (storage === 'file') {
      const dataDir = options.dataDir ?? process.env.P3_DATA_DIR ?? './data';
      // Before anything opens or listens: an unusable directory is a ConfigError now, not a failure per save.
      await prepareDataDir(dataDir);
      const log = withLog
        ? (options.log ??
          (await FileRoomLog.open({
            dir: join(dataDir, 'log'),
            logger: this.logger,
            ...(options.logCommitIntervalMs === undefined
              ? {}
              : { commitIntervalMs: options.logCommitIntervalMs }),
          })))
        : undefined;
      return {
        store: new FileSnapshotStore(dataDir),
        log,
        release: undefined,
        describe: { storage, durability, dataDir },
      };
    }
    if (storage === 'postgres') {
      const pool = new pg.Pool({
        connectionString:
          options.databaseUrl ?? process.env.P3_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
      });
      const store = new PostgresSnapshotStore({ pool });
      const log = withLog ? (options.log ?? new PostgresRoomLog({ pool })) : undefined;
      await store.migrate();
      if (log instanceof PostgresRoomLog) await log.migrate();
      return { store, log, release: () => pool.end(), describe: { storage, durability } };
    }
    if (withLog && options.log === undefined)
      throw new P3Error(
        ErrorCode.Internal,
        'durability "log" with a custom snapshot store needs the `log` option',
      );
    return {
      store: storage,
      log: withLog ? options.log : undefined,
      release: undefined,
      describe: { storage: 'custom', durability },
    };
  }

  private connectionFor(room: TickedRoom, member: MemberInfo): P3Connection {
    const id = connectionKey(room.key.room, member.connectionId);
    let connection = this.connections.get(id);
    if (!connection) {
      connection = new P3Connection(room, member);
      this.connections.set(id, connection);
    }
    return connection;
  }

  private defaultRoom(): TickedRoom {
    const room = this.requireSimulator().host.room(this.key(this.instanceId));
    if (!room) throw new P3Error(ErrorCode.Internal, 'the default instance is not open: call listen() first');
    return room;
  }

  private requireSimulator(): SimulatorHandle {
    if (!this.simulator)
      throw new P3Error(ErrorCode.Internal, 'the server is not listening: call listen() first');
    return this.simulator;
  }

  private key(room: string): RoomKey {
    return { tenant: this.options.gateway?.tenant ?? defaultGatewayConfig.tenant, room };
  }
}

function connectionKey(room: string, connectionId: string): string {
  return `${room}\u0000${connectionId}`;
}

/** The file log's own counters, exported at scrape time. */
function registerFileLogMetrics(registry: Registry, log: FileRoomLog): void {
  const counter = (name: string, help: string, read: () => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  counter(
    'p3_log_syncs_total',
    'fdatasync calls of the room log (each covers every record appended before it)',
    () => log.stats.syncs,
  );
  counter('p3_log_records_total', 'Records made durable by the room log', () => log.stats.records);
  counter('p3_log_bytes_total', 'Bytes made durable by the room log', () => log.stats.bytes);
}
