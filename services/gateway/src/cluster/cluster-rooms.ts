import { CloseCode, ErrorCode, P3Error, type ClientMessage, type WelcomeMessage } from '@p3/protocol';
import {
  systemClock,
  timerScheduler,
  type Bus,
  type Clock,
  type FrameBuffer,
  type JoinRequest,
  type JoinResult,
  type Membership,
  type RoomKey,
  type RoomService,
  type Scheduler,
} from '@p3/runtime';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { RoomFanout } from '../room-fanout.js';
import { ClusterMetrics } from './cluster-metrics.js';
import { OwnerPulse } from './owner-pulse.js';
import { OwnerRequests, keyOf } from './owner-requests.js';
import { RoomLink } from './room-link.js';

export interface ClusterRoomsOptions {
  /** This gateway's id: its inbox subject and the prefix of its attachments. Unique per process. */
  readonly gatewayId: string;
  readonly bus: Bus;
  readonly buffer: FrameBuffer;
  /** The live simulators: placement picks the one to ask. */
  readonly membership: Membership;
  readonly fanout: RoomFanout;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly scheduler?: Scheduler;
  readonly clock?: Clock;
  /** A join that found no owner in this long fails with ROOM_UNAVAILABLE (the client retries). Default 10,000. */
  readonly joinTimeoutMs?: number;
  /**
   * How long one simulator has to answer a join before placement is asked again (a repeat of the same join is
   * answered, never run twice). Default 500.
   */
  readonly askTimeoutMs?: number;
  /** See OwnerPulseOptions.silentAfterMs. Default 1,000 (simulators pulse every 250 ms). */
  readonly ownerSilentMs?: number;
  /** See RoomLinkOptions.silenceMs. Default 1,600 (idle rooms send a heartbeat every second). */
  readonly silenceMs?: number;
}

/**
 * The gateway's RoomService in the cluster: rooms run on simulators across the bus. A join goes to the simulator
 * placement picks (`simulatorInbox`), which claims the room's lease if it must and answers on this gateway's inbox;
 * the welcome comes in the room's output. Messages and leaves go to `roomInput(key)`; output comes through one
 * RoomLink per room with members here.
 */
export class ClusterRooms implements RoomService {
  private readonly links = new Map<string, RoomLink>();
  private readonly metrics: ClusterMetrics;
  private readonly scheduler: Scheduler;
  private readonly clock: Clock;
  /** Joins across the bus and the gateway's inbox, shared with the document rooms (`documents`). */
  readonly requests: OwnerRequests;
  private readonly pulse: OwnerPulse;
  private attachments = 0;

  constructor(private readonly options: ClusterRoomsOptions) {
    this.metrics = new ClusterMetrics(options.registry, () => this.links.size);
    this.scheduler = options.scheduler ?? timerScheduler;
    this.clock = options.clock ?? systemClock;
    this.requests = new OwnerRequests({
      gatewayId: options.gatewayId,
      bus: options.bus,
      membership: options.membership,
      scheduler: this.scheduler,
      clock: this.clock,
      logger: options.logger,
      metrics: this.metrics,
      joinTimeoutMs: options.joinTimeoutMs ?? 10_000,
      askTimeoutMs: options.askTimeoutMs ?? 500,
    });
    this.pulse = new OwnerPulse({
      bus: options.bus,
      selfId: options.gatewayId,
      scheduler: this.scheduler,
      clock: this.clock,
      logger: options.logger,
      ...(options.ownerSilentMs === undefined ? {} : { silentAfterMs: options.ownerSilentMs }),
      onSilent: (owner) => {
        this.metrics.ownersSilent.inc();
        this.requests.suspect(owner);
        for (const link of this.links.values()) link.ownerSilent(owner);
      },
    });
  }

  /** The counters of the cluster side, for the document rooms to count into as well. */
  get clusterMetrics(): ClusterMetrics {
    return this.metrics;
  }

  start(): Promise<void> {
    return this.requests.start();
  }

  async join(request: JoinRequest): Promise<JoinResult> {
    const started = this.clock.now();
    const { key } = request;
    let link: RoomLink;
    try {
      link = await this.linkFor(key);
    } catch (error) {
      this.options.logger.warn({ err: error, room: key.room }, 'room link could not start');
      this.metrics.joins.inc({ outcome: 'unavailable' });
      return {
        ok: false,
        error: new P3Error(ErrorCode.RoomUnavailable, 'the room cannot be reached right now; try again'),
        closeCode: CloseCode.Internal,
      };
    }
    const attachment = `${this.options.gatewayId}:${++this.attachments}`;
    let welcomed: (welcome: WelcomeMessage) => void = () => undefined;
    const welcome = new Promise<WelcomeMessage>((resolve) => (welcomed = resolve));
    link.expect(attachment, (w) => welcomed(w));
    const { askTimeoutMs = 500 } = this.options;
    const outcome = await this.requests.join(
      {
        attachment,
        key,
        clientId: request.clientId,
        sessionStamp: request.sessionStamp,
        ...(request.resumeFrame === undefined ? {} : { resumeFrame: request.resumeFrame }),
        ...(request.principal === undefined ? {} : { principal: request.principal }),
      },
      // The welcome is in the room's output, right behind what the room sent before it.
      () => Promise.race([welcome, this.requests.sleep(askTimeoutMs * 2).then(() => undefined)]),
      welcome,
    );
    if (outcome.kind !== 'joined') {
      link.leave(attachment);
      this.metrics.joins.inc({ outcome: outcome.kind });
      return outcome.kind === 'refused'
        ? {
            ok: false,
            error: new P3Error(outcome.code as ErrorCode, outcome.reason),
            closeCode: outcome.closeCode,
          }
        : {
            ok: false,
            error: new P3Error(ErrorCode.RoomUnavailable, outcome.reason),
            closeCode: CloseCode.Internal,
          };
    }
    link.ownedBy(outcome.owner);
    this.metrics.joins.inc({ outcome: 'joined' });
    this.metrics.joinSeconds.observe((this.clock.now() - started) / 1000);
    return {
      ok: true,
      connectionId: outcome.value.connectionId,
      welcome: outcome.value,
      session: {
        receive: (message) => link.input(attachment, message),
        leave: () => link.leave(attachment),
      },
      attached: () => link.attached(attachment),
    };
  }

  receive(key: RoomKey, connectionId: string, message: ClientMessage): void {
    this.links.get(keyOf(key))?.inputByConnection(connectionId, message);
  }

  leave(key: RoomKey, connectionId: string): void {
    this.links.get(keyOf(key))?.leaveByConnection(connectionId);
  }

  /** Stops every link and the inbox (the gateway closed its sockets first). */
  close(): void {
    this.requests.close();
    this.pulse.close();
    for (const link of this.links.values()) link.stop();
    this.links.clear();
  }

  private async linkFor(key: RoomKey): Promise<RoomLink> {
    for (;;) {
      const id = keyOf(key);
      let link = this.links.get(id);
      if (!link) {
        const created = new RoomLink({
          key,
          gatewayId: this.options.gatewayId,
          bus: this.options.bus,
          buffer: this.options.buffer,
          fanout: this.options.fanout,
          scheduler: this.scheduler,
          clock: this.clock,
          logger: this.options.logger,
          metrics: this.metrics,
          silenceMs: this.options.silenceMs ?? 1600,
          onEmpty: (empty) => this.retireSoon(empty),
          onSilent: (owner) => this.requests.suspect(owner),
          watchOwner: (owner) => this.pulse.watch(owner),
          busHealthy: () => this.pulse.busHealthy,
        });
        link = created;
        this.links.set(id, created);
        this.requests.onDetached(key, (attachments) => created.detached(attachments));
      }
      try {
        await link.start();
      } catch (error) {
        if (this.links.get(id) === link) {
          this.links.delete(id);
          this.requests.onDetached(key, undefined);
        }
        throw error;
      }
      if (!link.isStopped) return link;
    }
  }

  /** An empty link is unsubscribed unless a join comes back within a second (no churn on reconnects). */
  private retireSoon(link: RoomLink): void {
    this.scheduler.after(1000, () => {
      if (link.memberCount > 0 || this.links.get(keyOf(link.key)) !== link) return;
      this.links.delete(keyOf(link.key));
      this.requests.onDetached(link.key, undefined);
      link.stop();
    });
  }
}
