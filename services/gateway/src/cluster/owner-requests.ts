import { parseJson, type JsonValue } from '@p3/protocol';
import {
  decodeGatewayInboxMessage,
  encodeDocumentCall,
  encodeJoinCommand,
  gatewayInbox,
  placeRoom,
  simulatorInbox,
  type Bus,
  type BusSubscription,
  type Clock,
  type DocumentCall,
  type DocumentCallOp,
  type GatewayInboxMessage,
  type JoinCommand,
  type Membership,
  type Principal,
  type RoomKey,
  type Scheduler,
} from '@p3/runtime';
import type { Logger } from 'pino';
import type { ClusterMetrics } from './cluster-metrics.js';

/** A simulator's answer to a join; `detached` notices go to the room's handler instead. */
export type JoinReply = Exclude<GatewayInboxMessage, { kind: 'detached' | 'result-part' }>;

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
  /** How long a simulator whose room went silent is skipped by placement (default 4,000: past its TTLs). */
  readonly suspectMs?: number;
}

/**
 * The gateway's side of joins across the cluster, for world and document rooms alike: its inbox subscription, and
 * the loop that finds a room's owner. Placement names the first simulator to ask; an `elsewhere` answer names the
 * next (or says to wait for a lease to expire); a simulator that does not answer (dead, its membership not yet
 * expired) is skipped by asking placement again; all within the join timeout.
 */
export class OwnerRequests {
  private readonly waiting = new Map<string, (reply: JoinReply) => void>();
  /** Pieces of big results, by request id, until all arrived (dropped with the request when it ends). */
  private readonly pieces = new Map<string, { readonly parts: (string | undefined)[]; received: number }>();
  private readonly detachedHandlers = new Map<string, (attachments: readonly string[]) => void>();
  private inbox: BusSubscription | undefined;
  private requests = 0;
  private closed = false;
  /** Simulators whose rooms went silent here, until when they are skipped (membership lags a kill -9 by a TTL). */
  private readonly suspects = new Map<string, number>();

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
  join<T>(
    command: Omit<JoinCommand, 'id' | 'gateway' | 'avoid'>,
    accepted: (reply: { owner: string; epoch: number }) => Promise<T | undefined>,
    early?: Promise<T>,
  ): Promise<JoinOutcome<T>> {
    const { gatewayId } = this.options;
    return this.ask(
      command.key,
      (id, avoid) =>
        encodeJoinCommand({ ...command, id, gateway: gatewayId, ...(avoid.length > 0 ? { avoid } : {}) }),
      (reply) => (reply.kind === 'joined' ? accepted(reply) : Promise.resolve(undefined)),
      early,
    );
  }

  /**
   * A document call (seed-002 HTTP API) to the room's owner, found like a join's; the owner claims the room if it
   * must. Resolves with the owner's `result` value.
   */
  call(
    call: DocumentCallOp & { readonly key: RoomKey; readonly principal?: Principal },
  ): Promise<JoinOutcome<JsonValue>> {
    const { gatewayId } = this.options;
    return this.ask(
      call.key,
      (id) => encodeDocumentCall({ ...call, id, gateway: gatewayId } as DocumentCall),
      (reply) => Promise.resolve(reply.kind === 'result' ? reply.value : undefined),
      undefined,
      // A call may wait for a room to load and a change to be durable; asked again only when the owner seems gone
      // (a change asked twice is applied twice: last-write-wins makes that harmless, at the cost of one version).
      this.options.askTimeoutMs * 6,
    );
  }

  /**
   * A room `owner` served went silent: until `suspectMs` passes, placement here skips it and joins ask the next
   * simulator to claim its rooms as soon as their leases expire (AcquireOptions.avoid), instead of first asking the
   * silent one and waiting out `askTimeoutMs`.
   */
  suspect(owner: string): void {
    this.suspects.set(owner, this.options.clock.now() + (this.options.suspectMs ?? 4000));
  }

  private suspected(): string[] {
    const now = this.options.clock.now();
    for (const [owner, until] of this.suspects) if (until <= now) this.suspects.delete(owner);
    return [...this.suspects.keys()].slice(0, 16);
  }

  private async ask<T>(
    key: RoomKey,
    encode: (id: string, avoid: readonly string[]) => Uint8Array,
    accepted: (
      reply:
        | { kind: 'joined'; owner: string; epoch: number }
        | { kind: 'result'; owner: string; value: JsonValue },
    ) => Promise<T | undefined>,
    early?: Promise<T>,
    askTimeoutMs = this.options.askTimeoutMs,
  ): Promise<JoinOutcome<T>> {
    const { joinTimeoutMs, bus } = this.options;
    const deadline = this.options.clock.now() + joinTimeoutMs;
    let target: string | undefined;
    let problem = 'no simulator is live';
    let redirectedToSuspect = false;
    while (!this.closed && this.options.clock.now() < deadline) {
      const avoid = this.suspected();
      if (target === undefined) {
        let members: string[];
        try {
          members = await this.options.membership.members();
        } catch (error) {
          // Redis away (restarting, failing over): placement cannot be asked; it may be back within the timeout.
          problem = `simulator membership unreachable (${(error as Error).message})`;
          await this.sleep(250);
          continue;
        }
        const trusted = members.filter((member) => !avoid.includes(member));
        target = placeRoom(key, trusted.length > 0 ? trusted : members);
      }
      if (target === undefined) {
        problem = 'no simulator is live';
        await this.sleep(250);
        continue;
      }
      const id = `${this.options.gatewayId}:j${++this.requests}`;
      const reply = new Promise<JoinReply>((resolve) => this.waiting.set(id, resolve));
      bus.publish(simulatorInbox(target), encode(id, avoid));
      const timeout = this.sleep(askTimeoutMs).then(() => undefined);
      const answer = await Promise.race([
        reply,
        timeout,
        ...(early === undefined ? [] : [early.then((value) => ({ kind: 'early' as const, value }))]),
      ]);
      this.waiting.delete(id);
      this.pieces.delete(id);
      if (answer === undefined) {
        problem = `simulator ${target} did not answer`;
        target = undefined;
        continue;
      }
      if (answer.kind === 'early') return { kind: 'joined', owner: target, epoch: 0, value: answer.value };
      if (answer.kind === 'joined' || answer.kind === 'result') {
        const value = await accepted(
          answer.kind === 'joined'
            ? { kind: 'joined', owner: target, epoch: answer.epoch }
            : { kind: 'result', owner: target, value: answer.value },
        );
        if (value !== undefined)
          return { kind: 'joined', owner: target, epoch: answer.kind === 'joined' ? answer.epoch : 0, value };
        problem = 'the room accepted the request but its answer never arrived';
        break;
      }
      if (answer.kind === 'refused')
        return { kind: 'refused', code: answer.code, reason: answer.reason, closeCode: answer.closeCode };
      problem = `simulator ${target} cannot own the room yet`;
      let next = answer.owner !== undefined && answer.owner !== target ? answer.owner : undefined;
      // The target already waited out a suspect's lease once; named again, the suspect renewed it: it is alive.
      if (next !== undefined && avoid.includes(next)) {
        if (redirectedToSuspect) this.suspects.delete(next);
        else next = undefined;
        redirectedToSuspect = true;
      }
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

  /** Collects the pieces of a big result; the last one resolves the request like a whole `result`. */
  private piece(message: Extract<GatewayInboxMessage, { kind: 'result-part' }>): void {
    if (!this.waiting.has(message.id)) return;
    let entry = this.pieces.get(message.id);
    if (!entry || entry.parts.length !== message.count) {
      entry = { parts: new Array<string | undefined>(message.count).fill(undefined), received: 0 };
      this.pieces.set(message.id, entry);
    }
    if (entry.parts[message.index] !== undefined) return;
    entry.parts[message.index] = message.text;
    if (++entry.received < message.count) return;
    this.pieces.delete(message.id);
    const text = entry.parts.join('');
    const parsed = parseJson(text, { maxLength: text.length + 1, maxDepth: 64, maxKeys: 10_000_000 });
    if (!parsed.ok) {
      this.options.metrics.malformed.inc();
      return;
    }
    const resolve = this.waiting.get(message.id);
    this.waiting.delete(message.id);
    resolve?.({ kind: 'result', id: message.id, value: parsed.value });
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
    if (message.kind === 'result-part') {
      this.piece(message);
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
