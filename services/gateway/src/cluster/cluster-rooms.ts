import { CloseCode, ErrorCode, P3Error, type ClientMessage, type WelcomeMessage } from '@p3/protocol';
import {
  decodeGatewayInboxMessage,
  encodeJoinCommand,
  gatewayInbox,
  placeRoom,
  simulatorInbox,
  systemClock,
  timerScheduler,
  type Bus,
  type BusSubscription,
  type Clock,
  type FrameBuffer,
  type GatewayInboxMessage,
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
  /** How long one simulator has to answer a join before placement is asked again. Default 1,000. */
  readonly askTimeoutMs?: number;
  /** See RoomLinkOptions.silenceMs. Default 1,600 (idle rooms send a heartbeat every second). */
  readonly silenceMs?: number;
}

type Reply = Exclude<GatewayInboxMessage, { kind: 'detached' }>;

/**
 * The gateway's RoomService in the cluster: rooms run on simulators across the bus. A join goes to the simulator
 * placement picks (`simulatorInbox`), which claims the room's lease if it must and answers on this gateway's inbox;
 * the welcome comes in the room's output. Messages and leaves go to `roomInput(key)`; output comes through one
 * RoomLink per room with members here.
 */
export class ClusterRooms implements RoomService {
  private readonly links = new Map<string, RoomLink>();
  private readonly waiting = new Map<string, (reply: Reply) => void>();
  private readonly metrics: ClusterMetrics;
  private readonly scheduler: Scheduler;
  private readonly clock: Clock;
  private inbox: BusSubscription | undefined;
  private attachments = 0;
  private requests = 0;
  private closed = false;

  constructor(private readonly options: ClusterRoomsOptions) {
    this.metrics = new ClusterMetrics(options.registry, () => this.links.size);
    this.scheduler = options.scheduler ?? timerScheduler;
    this.clock = options.clock ?? systemClock;
  }

  /** Rooms this gateway is subscribed to (those with members here). */
  get roomsServed(): number {
    return this.links.size;
  }

  async start(): Promise<void> {
    this.inbox = this.options.bus.subscribe(gatewayInbox(this.options.gatewayId), (bytes) =>
      this.onInbox(bytes),
    );
    await this.options.bus.flush();
  }

  async join(request: JoinRequest): Promise<JoinResult> {
    const started = this.clock.now();
    const { key } = request;
    const link = await this.linkFor(key);
    const attachment = `${this.options.gatewayId}:${++this.attachments}`;
    let welcomed: ((value: { welcome: WelcomeMessage }) => void) | undefined;
    const welcome = new Promise<{ welcome: WelcomeMessage }>((resolve) => (welcomed = resolve));
    link.expect(attachment, (w) => welcomed?.({ welcome: w }));
    const outcome = await this.askOwners(request, attachment, welcome);
    if ('refused' in outcome || 'unavailable' in outcome) {
      link.leave(attachment);
      this.metrics.joins.inc({ outcome: 'refused' in outcome ? 'refused' : 'unavailable' });
      if ('refused' in outcome)
        return { ok: false, error: outcome.refused.error, closeCode: outcome.refused.closeCode };
      return {
        ok: false,
        error: new P3Error(ErrorCode.RoomUnavailable, outcome.unavailable),
        closeCode: CloseCode.Internal,
      };
    }
    this.metrics.joins.inc({ outcome: 'joined' });
    this.metrics.joinSeconds.observe((this.clock.now() - started) / 1000);
    return {
      ok: true,
      connectionId: outcome.welcome.connectionId,
      welcome: outcome.welcome,
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
    this.closed = true;
    this.inbox?.unsubscribe();
    for (const link of this.links.values()) link.stop();
    this.links.clear();
    for (const resolve of this.waiting.values()) resolve({ kind: 'elsewhere', id: '', retryMs: 0 });
    this.waiting.clear();
  }

  /**
   * Asks simulators until one welcomes the attachment, refuses it, or the join deadline passes. Placement names
   * the first; an `elsewhere` answer names the next (or says to wait for a lease to expire); a simulator that does
   * not answer (dead, its membership not yet expired) is skipped by asking placement again.
   */
  private async askOwners(
    request: JoinRequest,
    attachment: string,
    welcome: Promise<{ welcome: WelcomeMessage }>,
  ): Promise<
    { welcome: WelcomeMessage } | { refused: { error: P3Error; closeCode: number } } | { unavailable: string }
  > {
    const { joinTimeoutMs = 10_000, askTimeoutMs = 1000 } = this.options;
    const deadline = this.clock.now() + joinTimeoutMs;
    let target: string | undefined;
    let lastProblem = 'no simulator is live';
    while (!this.closed && this.clock.now() < deadline) {
      target ??= placeRoom(request.key, await this.options.membership.members());
      if (target === undefined) {
        lastProblem = 'no simulator is live';
        await this.sleep(250);
        continue;
      }
      const id = `${this.options.gatewayId}:j${++this.requests}`;
      const reply = this.awaitReply(id);
      this.options.bus.publish(
        simulatorInbox(target),
        encodeJoinCommand({
          id,
          gateway: this.options.gatewayId,
          attachment,
          key: request.key,
          clientId: request.clientId,
          sessionStamp: request.sessionStamp,
          ...(request.resumeFrame === undefined ? {} : { resumeFrame: request.resumeFrame }),
          ...(request.principal === undefined ? {} : { principal: request.principal }),
        }),
      );
      const answer = await Promise.race([welcome, reply, this.sleep(askTimeoutMs).then(() => undefined)]);
      this.waiting.delete(id);
      if (answer !== undefined && 'welcome' in answer) return answer;
      if (answer === undefined) {
        lastProblem = `simulator ${target} did not answer`;
        target = undefined;
        continue;
      }
      if (answer.kind === 'joined') {
        // The welcome is in the room's output, right behind what the room sent before it.
        const late = await Promise.race([welcome, this.sleep(askTimeoutMs * 2).then(() => undefined)]);
        if (late) return late;
        lastProblem = 'the welcome never arrived';
        break;
      }
      if (answer.kind === 'refused')
        return {
          refused: {
            error: new P3Error(answer.code as ErrorCode, answer.reason),
            closeCode: answer.closeCode,
          },
        };
      lastProblem = `simulator ${target} cannot own the room yet`;
      const next: string | undefined =
        answer.owner !== undefined && answer.owner !== target ? answer.owner : undefined;
      if (next === undefined) await this.sleep(answer.retryMs);
      target = next;
    }
    return { unavailable: `the room could not be opened: ${lastProblem}; try again` };
  }

  private awaitReply(id: string): Promise<Reply> {
    return new Promise((resolve) => this.waiting.set(id, resolve));
  }

  private onInbox(bytes: Uint8Array): void {
    const decoded = decodeGatewayInboxMessage(bytes);
    if (!decoded.ok) {
      this.metrics.malformed.inc();
      this.options.logger.warn(
        { code: decoded.code, reason: decoded.message },
        'malformed gateway inbox message',
      );
      return;
    }
    const message = decoded.value;
    if (message.kind === 'detached') {
      this.links.get(keyOf(message.key))?.detached(message.attachments);
      return;
    }
    const resolve = this.waiting.get(message.id);
    this.waiting.delete(message.id);
    resolve?.(message);
  }

  private async linkFor(key: RoomKey): Promise<RoomLink> {
    for (;;) {
      const id = keyOf(key);
      let link = this.links.get(id);
      if (!link) {
        link = new RoomLink({
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
        });
        this.links.set(id, link);
      }
      await link.start();
      if (!link.isStopped) return link;
    }
  }

  /** An empty link is unsubscribed unless a join comes back within a second (no churn on reconnects). */
  private retireSoon(link: RoomLink): void {
    this.scheduler.after(1000, () => {
      if (link.memberCount > 0 || this.links.get(keyOf(link.key)) !== link) return;
      this.links.delete(keyOf(link.key));
      link.stop();
    });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.scheduler.after(ms, resolve));
  }
}

function keyOf(key: RoomKey): string {
  return `${key.tenant}\u0000${key.room}`;
}
