import { EventEmitter } from 'node:events';
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
  DocumentRooms,
  createFanout,
  defaultGatewayConfig,
  ecsSyncEndpoint,
  roomsApi,
  startGateway,
  type Authenticator,
  type GatewayConfig,
  type GatewayHandle,
  type StaticFile,
} from '@p3/gateway';
import {
  FileSnapshotStore,
  MemorySnapshotStore,
  randomId,
  type MemberInfo,
  type RoomKey,
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
import { Registry, collectDefaultMetrics } from 'prom-client';
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
  /** Where snapshots go: `file` (default, under `dataDir`), `memory`, or any SnapshotStore (e.g. Postgres). */
  readonly storage?: 'file' | 'memory' | SnapshotStore;
  /** Default `./data`. */
  readonly dataDir?: string;
  readonly logger?: Logger;
  readonly logLevel?: Level | 'silent';
  readonly auth?: Authenticator;
  readonly gateway?: Partial<GatewayConfig>;
  readonly simulator?: Partial<SimulatorConfig>;
  readonly staticFiles?: ReadonlyMap<string, StaticFile>;
  /** Document rooms (`/ecs-sync` and the HTTP API): idle close and save throttle. */
  readonly documents?: {
    readonly idleTimeoutMs?: number;
    readonly saveThrottleMs?: number;
    readonly tombstoneRetention?: number;
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
    const store = this.makeStore();
    this.store = store;
    const { fanout, metrics } = createFanout(gatewayConfig, registry, this.logger);
    this.simulator = startSimulator(simulatorConfig, {
      world: this.worldDefinition(),
      store,
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
      tenant: gatewayConfig.tenant,
      logger: this.logger,
      ...this.options.documents,
    });
    this.gateway = await startGateway(gatewayConfig, {
      rooms: this.simulator.host,
      fanout,
      metrics,
      logger: this.logger,
      registry,
      ...(this.options.auth === undefined ? {} : { auth: this.options.auth }),
      ...(this.options.staticFiles === undefined ? {} : { staticFiles: this.options.staticFiles }),
      extensions: [
        ecsSyncEndpoint({ rooms: documents, idleTimeoutSeconds: gatewayConfig.idleTimeoutSeconds }),
        roomsApi({ rooms: documents }),
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
    await this.store?.close();
    this.gateway = undefined;
    this.simulator = undefined;
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

  private makeStore(): SnapshotStore {
    const storage = this.options.storage ?? 'file';
    if (storage === 'memory') return new MemorySnapshotStore();
    if (storage === 'file')
      return new FileSnapshotStore(this.options.dataDir ?? process.env.P3_DATA_DIR ?? './data');
    return storage;
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
