import {
  CloseCode,
  ErrorCode,
  JsonCodec,
  P3Error,
  type ClientMessage,
  type JoinMessage,
  type JsonValue,
} from '@p3/protocol';
import type { WorldDefinition } from '@p3/engine';
import {
  RoomOwnership,
  decodeRoomInputBatch,
  decodeSimulatorRequest,
  encodeGatewayInboxMessage,
  gatewayInbox,
  roomInput,
  simulatorAlive,
  simulatorInbox,
  systemClock,
  timerScheduler,
  type Bus,
  type BusSubscription,
  type Cancel,
  type Clock,
  type DocumentCall,
  type FrameBuffer,
  type GatewayInboxMessage,
  type JoinCommand,
  type Membership,
  type RoomEvents,
  type RoomKey,
  type RoomLeases,
  type RoomLog,
  type RoomSession,
  type Scheduler,
  type SnapshotStore,
} from '@p3/runtime';
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import { ClusterDocuments, isDocumentKey } from './cluster-documents.js';
import { ClusterRoomOutput } from './cluster-room-output.js';
import { endMissing } from './end-missing.js';
import type { SimulatorConfig } from './simulator-config.js';
import { startSimulator, type SimulatorHandle } from './simulator.js';

export interface ClusterSimulatorOptions {
  /** This process's id in membership, placement and leases: unique per process (a restart takes a new one). */
  readonly memberId: string;
  readonly bus: Bus;
  readonly buffer: FrameBuffer;
  readonly leases: RoomLeases;
  readonly membership: Membership;
  /**
   * The live gateways (each keeps itself in with a MemberHeartbeat). The sessions of a gateway that left it (died:
   * no socket close will ever come) are ended as if their sockets closed, so they get their resume grace and go.
   */
  readonly gateways?: Membership;
  /** How often the gateways of the attachments here are checked against `gateways`. Default 1000 ms. */
  readonly gatewayCheckMs?: number;
  readonly store: SnapshotStore;
  readonly log?: RoomLog;
  readonly world: WorldDefinition | ((key: RoomKey) => WorldDefinition);
  readonly config: SimulatorConfig;
  readonly logger: Logger;
  readonly registry: Registry;
  /** Lease life without renewal (renewed every third of it). Default 2000 ms. */
  readonly leaseTtlMs?: number;
  /** Membership life without heartbeat. Default 2000 ms. */
  readonly memberTtlMs?: number;
  /** How often the simulator's pulse goes to the gateways (`simulatorAlive`). Default 250 ms. */
  readonly aliveEveryMs?: number;
  /** How often placement is checked against the live members (rooms placed elsewhere are handed off). Default 2000. */
  readonly rebalanceMs?: number;
  readonly events?: RoomEvents;
  readonly clock?: Clock;
  readonly scheduler?: Scheduler;
}

/** A room this simulator owns: its epoch, its input subscription and the attachments of its members. */
interface OwnedRoom {
  readonly key: RoomKey;
  readonly epoch: number;
  readonly input: BusSubscription;
  /** Per attachment, the member's line to the room and the gateway holding its socket. */
  readonly attachments: Map<string, { readonly session: RoomSession; readonly gateway: string }>;
  /** Attachments missing from their gateway's last roster, with how many rosters in a row missed them. */
  readonly missing: Map<string, number>;
}

const json = new JsonCodec();
/** A gateway asked a member that cannot own the room now: it asks again after this long. */
const retryMs = 200;

/**
 * A simulator process of the cluster: answers joins on its inbox, owns rooms through leases (RoomOwnership),
 * hosts them (RoomHost), takes their members' input from `roomInput(key)` and publishes their output through
 * ClusterRoomOutput. Rooms move when placement moves them (rebalance, SIGTERM: final snapshot, then release) and
 * when a lease is lost (the room stops at once, publishing and saving nothing more).
 */
export class ClusterSimulator {
  readonly simulator: SimulatorHandle;
  private readonly ownership: RoomOwnership;
  private readonly output: ClusterRoomOutput;
  private readonly rooms = new Map<string, OwnedRoom>();
  /** Document rooms (ecs-sync), per tenant: each tenant's rooms live under its own keys. */
  private readonly documents = new Map<string, ClusterDocuments>();
  /** Joins being answered, by attachment (see `join`). */
  private readonly joining = new Map<string, Promise<void>>();
  private inbox: BusSubscription | undefined;
  private cancelRebalance: Cancel = () => undefined;
  private cancelGatewayCheck: Cancel = () => undefined;
  private cancelAlive: Cancel = () => undefined;
  private stopped = false;
  private readonly counters: {
    joins: Counter<'outcome'>;
    detached: Counter;
    malformed: Counter<'what'>;
    orphaned: Counter;
  };

  constructor(private readonly options: ClusterSimulatorOptions) {
    const { bus, buffer, logger, registry } = options;
    const scheduler = options.scheduler ?? timerScheduler;
    const clock = options.clock ?? systemClock;
    this.output = new ClusterRoomOutput({
      bus,
      buffer,
      logger,
      onDeposed: (key, epoch) => {
        logger.warn({ room: key.room, epoch }, 'room output refused as stale: deposed, stopping the room');
        this.simulator.host.discard(key);
      },
    });
    this.simulator = startSimulator(options.config, {
      world: options.world,
      store: options.store,
      ...(options.log === undefined ? {} : { log: options.log }),
      output: this.output,
      logger,
      registry,
      clock,
      scheduler,
      ...(options.events === undefined ? {} : { events: options.events }),
      epochOf: (key) => this.rooms.get(keyOf(key))?.epoch ?? 0,
      onRoomClosed: (key, why) => {
        this.dropRoom(key, why !== 'discarded');
        if (why !== 'discarded') void this.ownership.release(key).catch(() => undefined);
      },
    });
    this.ownership = new RoomOwnership({
      memberId: options.memberId,
      leases: options.leases,
      membership: options.membership,
      scheduler,
      clock,
      leaseTtlMs: options.leaseTtlMs ?? 2000,
      memberTtlMs: options.memberTtlMs ?? 2000,
      logger,
      onLost: (key) => {
        // Nothing more may leave for this room: a successor may own it already.
        if (isDocumentKey(key)) return this.documentsOf(key.tenant).lost(key);
        this.dropRoom(key, false);
        this.simulator.host.discard(key);
      },
      onHandoff: (key) =>
        isDocumentKey(key) ? this.documentsOf(key.tenant).handOff(key) : this.simulator.host.handOff(key),
    });
    this.counters = {
      joins: new Counter({
        name: 'p3_simulator_cluster_joins_total',
        help: 'Join requests answered, by outcome (joined, refused, elsewhere)',
        labelNames: ['outcome'],
        registers: [registry],
      }),
      detached: new Counter({
        name: 'p3_simulator_cluster_unknown_attachments_total',
        help: 'Inputs for attachments this owner does not know (the gateway closes those sockets to resume)',
        registers: [registry],
      }),
      orphaned: new Counter({
        name: 'p3_simulator_cluster_orphaned_sessions_total',
        help: 'Sessions ended because their gateway left the cluster (died) without closing them',
        registers: [registry],
      }),
      malformed: new Counter({
        name: 'p3_simulator_cluster_malformed_total',
        help: 'Bus messages that did not decode, by kind',
        labelNames: ['what'],
        registers: [registry],
      }),
    };
  }

  /** Joins membership, listens on this simulator's inbox and starts checking placement. */
  async start(): Promise<void> {
    const { bus } = this.options;
    this.inbox = bus.subscribe(simulatorInbox(this.options.memberId), (bytes) => {
      const decoded = decodeSimulatorRequest(bytes);
      if (!decoded.ok) {
        this.counters.malformed.inc({ what: 'request' });
        this.options.logger.warn(
          { code: decoded.code, reason: decoded.message },
          'malformed simulator request',
        );
        return;
      }
      const request = decoded.value;
      const { id, gateway } = request.kind === 'join' ? request.command : request.call;
      const handled = request.kind === 'join' ? this.join(request.command) : this.call(request.call);
      void handled.catch((error: unknown) => {
        this.options.logger.error({ err: error }, `${request.kind} failed`);
        this.reply(gateway, {
          kind: 'refused',
          id,
          code: ErrorCode.Internal,
          reason: 'room failed to open',
          closeCode: CloseCode.Internal,
        });
      });
    });
    await bus.flush();
    // Listening before joining membership: a gateway that places a room here finds the inbox live.
    await this.ownership.start();
    this.scheduleRebalance();
    this.scheduleGatewayCheck();
    this.scheduleAlive();
  }

  /** Hands every room off (members told to reconnect, final snapshots, leases released) and leaves membership. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.cancelRebalance();
    this.cancelGatewayCheck();
    this.inbox?.unsubscribe();
    await this.ownership.stop();
    await this.simulator.close();
    for (const documents of this.documents.values()) await documents.close();
    for (const room of [...this.rooms.values()]) this.dropRoom(room.key, true);
    // Pulsing until the handoffs ended: gateways hearing silence sooner would move members to wait on its leases.
    this.cancelAlive();
  }

  /**
   * A gateway that heard nothing in time asks again with the same attachment: the same join must not run twice (a
   * second session would replace the first and close its socket), so a repeat waits for the first and gets its
   * answer; one for an attachment already in the room is answered `joined` at once (its welcome is in the output).
   */
  private join(command: JoinCommand): Promise<void> {
    const inFlight = this.joining.get(command.attachment);
    if (inFlight) return inFlight.then(() => this.repeatAnswer(command));
    const joining = this.joinOnce(command).finally(() => this.joining.delete(command.attachment));
    this.joining.set(command.attachment, joining);
    return joining;
  }

  private repeatAnswer(command: JoinCommand): void {
    const room = this.rooms.get(keyOf(command.key));
    if (room?.attachments.has(command.attachment))
      this.reply(command.gateway, { kind: 'joined', id: command.id, epoch: room.epoch });
    else if (this.documentsOf(command.key.tenant).has(command.key, command.attachment))
      this.reply(command.gateway, { kind: 'joined', id: command.id, epoch: 0 });
    else this.reply(command.gateway, { kind: 'elsewhere', id: command.id, retryMs });
  }

  private async joinOnce(command: JoinCommand): Promise<void> {
    const { key } = command;
    const room = this.rooms.get(keyOf(key));
    if (room?.attachments.has(command.attachment)) return this.repeatAnswer(command);
    const answer = await this.ownership.acquire(key, { avoid: command.avoid ?? [] });
    if (!answer.owned) {
      this.counters.joins.inc({ outcome: 'elsewhere' });
      this.reply(command.gateway, {
        kind: 'elsewhere',
        id: command.id,
        retryMs,
        ...(answer.owner === undefined ? {} : { owner: answer.owner }),
      });
      return;
    }
    if (command.document === true) {
      await this.joinDocument(command, answer.epoch);
      return;
    }
    const owned = await this.ensureRoom(key, answer.epoch);
    const result = await this.simulator.host.join({
      key,
      clientId: command.clientId,
      sessionStamp: command.sessionStamp,
      ...(command.resumeFrame === undefined ? {} : { resumeFrame: command.resumeFrame }),
      ...(command.principal === undefined ? {} : { principal: command.principal }),
    });
    if (!result.ok) {
      this.counters.joins.inc({ outcome: 'refused' });
      this.reply(command.gateway, {
        kind: 'refused',
        id: command.id,
        code: result.error.code,
        reason: result.error.message,
        closeCode: result.closeCode,
      });
      return;
    }
    if (this.rooms.get(keyOf(key)) !== owned) {
      // Lost (or handed off) while the room opened: the member reconnects and joins the next owner.
      result.session.leave();
      this.counters.joins.inc({ outcome: 'elsewhere' });
      this.reply(command.gateway, { kind: 'elsewhere', id: command.id, retryMs });
      return;
    }
    owned.attachments.set(command.attachment, { session: result.session, gateway: command.gateway });
    this.output.welcome(key, command.attachment, result.welcome);
    this.counters.joins.inc({ outcome: 'joined' });
    this.reply(command.gateway, { kind: 'joined', id: command.id, epoch: owned.epoch });
  }

  /** A seed-002 HTTP call on a document room: answered by its owner, which claims it if it must. */
  private async call(call: DocumentCall): Promise<void> {
    const answer = await this.ownership.acquire(call.key);
    if (!answer.owned) {
      this.reply(call.gateway, {
        kind: 'elsewhere',
        id: call.id,
        retryMs,
        ...(answer.owner === undefined ? {} : { owner: answer.owner }),
      });
      return;
    }
    let value: JsonValue;
    try {
      value = await this.documentsOf(call.key.tenant).call(call, answer.epoch);
    } catch (error) {
      if (!(error instanceof P3Error)) throw error;
      this.reply(call.gateway, {
        kind: 'refused',
        id: call.id,
        code: error.code,
        reason: error.message,
        closeCode: 0,
      });
      return;
    }
    this.reply(call.gateway, { kind: 'result', id: call.id, value });
  }

  /** An ecs-sync socket of a gateway into a document room this simulator owns. */
  private async joinDocument(command: JoinCommand, epoch: number): Promise<void> {
    try {
      await this.documentsOf(command.key.tenant).join(command, epoch);
    } catch (error) {
      if (!(error instanceof P3Error)) throw error;
      this.counters.joins.inc({ outcome: 'refused' });
      this.reply(command.gateway, {
        kind: 'refused',
        id: command.id,
        code: error.code,
        reason: error.message,
        closeCode: error.code === ErrorCode.QuotaExceeded ? CloseCode.QuotaExceeded : CloseCode.Internal,
      });
      return;
    }
    this.counters.joins.inc({ outcome: 'joined' });
    this.reply(command.gateway, { kind: 'joined', id: command.id, epoch });
  }

  private documentsOf(tenant: string): ClusterDocuments {
    let documents = this.documents.get(tenant);
    if (!documents) {
      documents = new ClusterDocuments({
        tenant,
        bus: this.options.bus,
        output: this.output,
        store: this.options.store,
        ...(this.options.log === undefined ? {} : { log: this.options.log }),
        scheduler: this.options.scheduler ?? timerScheduler,
        logger: this.options.logger,
        idleTimeoutMs: this.options.config.idleTimeoutMs,
        release: (key) => void this.ownership.release(key).catch(() => undefined),
        detached: (gateway, key, attachments) => this.reply(gateway, { kind: 'detached', key, attachments }),
      });
      this.documents.set(tenant, documents);
    }
    return documents;
  }

  /** The room's output and input exist before the room opens: its first tick already publishes. */
  private async ensureRoom(key: RoomKey, epoch: number): Promise<OwnedRoom> {
    const id = keyOf(key);
    const existing = this.rooms.get(id);
    if (existing && existing.epoch === epoch) return existing;
    if (existing) this.dropRoom(key, false);
    const { bus } = this.options;
    const room: OwnedRoom = {
      key,
      epoch,
      attachments: new Map(),
      missing: new Map(),
      input: bus.subscribe(roomInput(key), (bytes) => this.input(room, bytes)),
    };
    this.rooms.set(id, room);
    this.output.openRoom(key, epoch);
    // Inputs a gateway sends right after our `joined` reply must find the subscription live.
    await bus.flush();
    return room;
  }

  private input(room: OwnedRoom, bytes: Uint8Array): void {
    if (this.rooms.get(keyOf(room.key)) !== room) return;
    const decoded = decodeRoomInputBatch(bytes);
    if (!decoded.ok) {
      this.counters.malformed.inc({ what: 'input' });
      this.options.logger.warn({ code: decoded.code, reason: decoded.message }, 'malformed room input');
      return;
    }
    let unknown: string[] | undefined;
    for (const item of decoded.value.items) {
      const session = room.attachments.get(item.attachment)?.session;
      if (!session) {
        (unknown ??= []).push(item.attachment);
        continue;
      }
      if ('leave' in item) {
        room.attachments.delete(item.attachment);
        session.leave();
        continue;
      }
      const message = json.decodeClient(item.message);
      // The gateway decoded and checked it already: a failure here is a bug or a foreign publisher.
      if (!message.ok || message.value.type === 'join') {
        this.counters.malformed.inc({ what: 'client_message' });
        continue;
      }
      session.receive(message.value as Exclude<ClientMessage, JoinMessage>);
    }
    const { roster } = decoded.value;
    if (roster !== undefined) {
      const ended = endMissing(
        room.attachments,
        room.missing,
        decoded.value.gateway,
        roster,
        (attachment) => {
          const entry = room.attachments.get(attachment);
          room.attachments.delete(attachment);
          entry?.session.leave();
        },
      );
      if (ended > 0) this.counters.orphaned.inc(ended);
    }
    if (unknown) {
      const attachments = [...new Set(unknown)];
      this.counters.detached.inc(attachments.length);
      this.reply(decoded.value.gateway, { kind: 'detached', key: room.key, attachments });
    }
  }

  /** Forgets a room's input and output; `flush` sends what it emitted last (closes of a handoff) first. */
  private dropRoom(key: RoomKey, flush: boolean): void {
    const id = keyOf(key);
    const room = this.rooms.get(id);
    if (!room) return;
    this.rooms.delete(id);
    room.input.unsubscribe();
    this.output.closeRoom(key, { flush });
  }

  private reply(gateway: string, message: GatewayInboxMessage): void {
    const { bus } = this.options;
    try {
      const bytes = encodeGatewayInboxMessage(message);
      if (bytes.byteLength <= bus.maxPayload - 64 || message.kind !== 'result') {
        bus.publish(gatewayInbox(gateway), bytes);
        return;
      }
      // A big bootstrap: its JSON text in pieces that each fit (a character is at most 6 bytes escaped).
      const text = JSON.stringify(message.value);
      const size = Math.max(1, Math.floor((bus.maxPayload - 512) / 6));
      const count = Math.ceil(text.length / size);
      for (let index = 0; index < count; index++) {
        const piece = encodeGatewayInboxMessage({
          kind: 'result-part',
          id: message.id,
          index,
          count,
          text: text.slice(index * size, (index + 1) * size),
        });
        bus.publish(gatewayInbox(gateway), piece);
      }
    } catch (error) {
      this.options.logger.warn({ err: error, gateway }, 'reply to gateway failed');
    }
  }

  private scheduleAlive(): void {
    const scheduler = this.options.scheduler ?? timerScheduler;
    this.options.bus.publish(simulatorAlive(this.options.memberId), new Uint8Array(0));
    this.cancelAlive = scheduler.after(this.options.aliveEveryMs ?? 250, () => this.scheduleAlive());
  }

  private scheduleGatewayCheck(): void {
    const { gateways } = this.options;
    if (gateways === undefined) return;
    const scheduler = this.options.scheduler ?? timerScheduler;
    this.cancelGatewayCheck = scheduler.after(this.options.gatewayCheckMs ?? 1000, () => {
      void this.endDeadGateways(gateways).finally(() => {
        if (!this.stopped) this.scheduleGatewayCheck();
      });
    });
  }

  /** Ends the sessions whose gateway is no longer live, as if their sockets closed. */
  private async endDeadGateways(gateways: Membership): Promise<void> {
    let live: Set<string>;
    try {
      live = new Set(await gateways.members());
    } catch (error) {
      this.options.logger.warn({ err: error }, 'gateway membership unreachable: sessions not checked');
      return;
    }
    let ended = 0;
    for (const room of this.rooms.values())
      for (const [attachment, { session, gateway }] of [...room.attachments]) {
        if (live.has(gateway)) continue;
        room.attachments.delete(attachment);
        session.leave();
        ended++;
      }
    for (const documents of this.documents.values()) ended += documents.endGatewaysOtherThan(live);
    if (ended > 0) {
      this.counters.orphaned.inc(ended);
      this.options.logger.warn({ sessions: ended }, 'ended the sessions of gateways that left the cluster');
    }
  }

  private scheduleRebalance(): void {
    const scheduler = this.options.scheduler ?? timerScheduler;
    this.cancelRebalance = scheduler.after(this.options.rebalanceMs ?? 2000, () => {
      void this.ownership
        .rebalance()
        .catch((error: unknown) => this.options.logger.warn({ err: error }, 'rebalance failed'))
        .finally(() => {
          if (!this.stopped) this.scheduleRebalance();
        });
    });
  }
}

function keyOf(key: RoomKey): string {
  return `${key.tenant}\u0000${key.room}`;
}
