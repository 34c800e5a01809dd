import {
  decodeGatewayInboxMessage,
  encodeJoinCommand,
  gatewayInbox,
  placeRoom,
  simulatorInbox,
  type Bus,
  type BusSubscription,
  type Clock,
  type GatewayInboxMessage,
  type JoinCommand,
  type Membership,
  type RoomKey,
  type Scheduler,
} from '@p3/runtime';
import type { Logger } from 'pino';
import type { ClusterMetrics } from './cluster-metrics.js';

/** A simulator's answer to a join; `detached` notices go to the room's handler instead. */
export type JoinReply = Exclude<GatewayInboxMessage, { kind: 'detached' }>;

/** How a join ended: accepted by `owner` (with its epoch), refused by the room, or no owner found in time. */
export type JoinOutcome<T> =
  | { readonly kind: 'joined'; readonly owner: string; readonly epoch: number; readonly value: T }
  | { readonly kind: 'refused'; readonly code: string; readonly reason: string; readonly closeCode: number }
  | { readonly kind: 'unavailable'; readonly reason: string };

export interface OwnerRequestsOptions {
  readonly gatewayId: string;
  readonly bus: Bus;
  readonly membership: Membership;
  readonly scheduler: Scheduler;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: ClusterMetrics;
  /** A join that found no owner in this long is `unavailable`. */
  readonly joinTimeoutMs: number;
  /** How long one simulator has to answer before placement is asked again. */
  readonly askTimeoutMs: number;
}

/**
 * The gateway's side of joins across the cluster, for world and document rooms alike: its inbox subscription, and
 * the loop that finds a room's owner. Placement names the first simulator to ask; an `elsewhere` answer names the
 * next (or says to wait for a lease to expire); a simulator that does not answer (dead, its membership not yet
 * expired) is skipped by asking placement again; all within the join timeout.
 */
export class OwnerRequests {
  private readonly waiting = new Map<string, (reply: JoinReply) => void>();
  private readonly detachedHandlers = new Map<string, (attachments: readonly string[]) => void>();
  private inbox: BusSubscription | undefined;
  private requests = 0;
  private closed = false;

  constructor(private readonly options: OwnerRequestsOptions) {}

  async start(): Promise<void> {
    this.inbox = this.options.bus.subscribe(gatewayInbox(this.options.gatewayId), (bytes) =>
      this.onInbox(bytes),
    );
    await this.options.bus.flush();
  }

  /** Where `detached` notices of a room go (the owner does not know these attachments). */
  onDetached(key: RoomKey, handler: ((attachments: readonly string[]) => void) | undefined): void {
    if (handler === undefined) this.detachedHandlers.delete(keyOf(key));
    else this.detachedHandlers.set(keyOf(key), handler);
  }

  /**
   * Sends `command` (its id filled in per attempt) until a simulator accepts it. `accepted` turns a `joined` reply
   * into the caller's value: it may wait for more (a world join waits for its welcome in the room's output);
   * `early` resolves when that value arrived before the reply did.
   */
  async join<T>(
    command: Omit<JoinCommand, 'id' | 'gateway'>,
    accepted: (reply: { owner: string; epoch: number }) => Promise<T | undefined>,
    early?: Promise<T>,
  ): Promise<JoinOutcome<T>> {
    const { joinTimeoutMs, askTimeoutMs, bus, gatewayId } = this.options;
    const deadline = this.options.clock.now() + joinTimeoutMs;
    let target: string | undefined;
    let problem = 'no simulator is live';
    while (!this.closed && this.options.clock.now() < deadline) {
      target ??= placeRoom(command.key, await this.options.membership.members());
      if (target === undefined) {
        problem = 'no simulator is live';
        await this.sleep(250);
        continue;
      }
      const id = `${gatewayId}:j${++this.requests}`;
      const reply = new Promise<JoinReply>((resolve) => this.waiting.set(id, resolve));
      bus.publish(simulatorInbox(target), encodeJoinCommand({ ...command, id, gateway: gatewayId }));
      const timeout = this.sleep(askTimeoutMs).then(() => undefined);
      const answer = await Promise.race([
        reply,
        timeout,
        ...(early === undefined ? [] : [early.then((value) => ({ kind: 'early' as const, value }))]),
      ]);
      this.waiting.delete(id);
      if (answer === undefined) {
        problem = `simulator ${target} did not answer`;
        target = undefined;
        continue;
      }
      if (answer.kind === 'early') return { kind: 'joined', owner: target, epoch: 0, value: answer.value };
      if (answer.kind === 'joined') {
        const value = await accepted({ owner: target, epoch: answer.epoch });
        if (value !== undefined) return { kind: 'joined', owner: target, epoch: answer.epoch, value };
        problem = 'the room accepted the join but its welcome never arrived';
        break;
      }
      if (answer.kind === 'refused')
        return { kind: 'refused', code: answer.code, reason: answer.reason, closeCode: answer.closeCode };
      problem = `simulator ${target} cannot own the room yet`;
      const next = answer.owner !== undefined && answer.owner !== target ? answer.owner : undefined;
      if (next === undefined) await this.sleep(answer.retryMs);
      target = next;
    }
    return { kind: 'unavailable', reason: `the room could not be opened: ${problem}; try again` };
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.options.scheduler.after(ms, resolve));
  }

  close(): void {
    this.closed = true;
    this.inbox?.unsubscribe();
    for (const resolve of this.waiting.values()) resolve({ kind: 'elsewhere', id: '', retryMs: 0 });
    this.waiting.clear();
  }

  private onInbox(bytes: Uint8Array): void {
    const decoded = decodeGatewayInboxMessage(bytes);
    if (!decoded.ok) {
      this.options.metrics.malformed.inc();
      this.options.logger.warn(
        { code: decoded.code, reason: decoded.message },
        'malformed gateway inbox message',
      );
      return;
    }
    const message = decoded.value;
    if (message.kind === 'detached') {
      this.detachedHandlers.get(keyOf(message.key))?.(message.attachments);
      return;
    }
    const resolve = this.waiting.get(message.id);
    this.waiting.delete(message.id);
    resolve?.(message);
  }
}

export function keyOf(key: RoomKey): string {
  return `${key.tenant}\u0000${key.room}`;
}
