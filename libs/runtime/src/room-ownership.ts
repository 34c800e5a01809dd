import type { Logger } from 'pino';
import { placeRoom } from './placement.js';
import type { Clock } from './ports/clock.js';
import type { Membership } from './ports/membership.js';
import type { LeaseHolder, RoomLeases } from './ports/room-lease.js';
import type { Cancel, Scheduler } from './ports/scheduler.js';
import type { RoomKey } from './ports/snapshot-store.js';

export interface RoomOwnershipOptions {
  /** This simulator's id in membership, placement and leases. */
  readonly memberId: string;
  readonly leases: RoomLeases;
  readonly membership: Membership;
  readonly scheduler: Scheduler;
  readonly clock: Clock;
  /** Lease life without renewal (default 5000); renewed every third of it. */
  readonly leaseTtlMs?: number;
  /** Membership life without heartbeat (default 5000); heartbeat every third of it. */
  readonly memberTtlMs?: number;
  /** The lease is gone (or can no longer be proven): stop the room now and publish nothing more. */
  readonly onLost: (key: RoomKey, epoch: number) => void;
  /** Placement moved the room away: take a final snapshot. The lease is released once this resolves. */
  readonly onHandoff: (key: RoomKey, epoch: number) => Promise<void>;
  readonly logger?: Pick<Logger, 'info' | 'warn' | 'error'>;
}

export type AcquireResult =
  | { readonly owned: true; readonly epoch: number }
  /** `owner` is the member placement picks, or the lease holder; absent when nobody is live. */
  | { readonly owned: false; readonly owner?: string };

/** What a gateway knows that this member may not yet: owners it heard go silent. */
export interface AcquireOptions {
  /**
   * Members a gateway suspects dead (their rooms went silent) while membership still lists them: placement skips
   * them (unless nobody else is left), and a lease one of them holds is claimed again the moment it expires instead
   * of naming the holder. Only speed depends on this: the lease still decides, so a wrong suspicion costs a wait.
   */
  readonly avoid?: readonly string[];
}

export interface OwnedRoom {
  readonly key: RoomKey;
  readonly epoch: number;
}

interface Room {
  readonly key: RoomKey;
  readonly epoch: number;
  /** Local-clock instant the lease is proven until: the send time of the last granted claim/renew plus the TTL. */
  deadline: number;
  handingOff: boolean;
  cancelRenew: Cancel;
  cancelDeadline: Cancel;
}

/**
 * Which rooms one simulator owns, and keeping their leases (DESIGN.md section 5). Placement (`placeRoom` over the
 * live members) proposes an owner; the lease decides. Guarantees:
 * - a room is believed owned (`owned()`, `acquire`) only while its lease is proven by the local clock: from the
 *   send time of the last successful claim or renew, for the TTL. The store starts its TTL when the request
 *   arrives, later, so belief ends no later than the lease, and no other simulator can be granted the room while
 *   this one still believes it owns it;
 * - `onLost` runs once per ownership, as soon as a renew is refused or the proven time runs out (Redis down);
 * - a room handed off (placement moved, `stop()`) keeps its lease renewed during `onHandoff`, is forgotten, and
 *   only then released: the next owner's higher epoch starts after this one's belief ended.
 *
 * @example
 * const own = new RoomOwnership({ memberId: 'sim-1', leases, membership, scheduler: timerScheduler,
 *   clock: systemClock, onLost: (key) => host.kill(key), onHandoff: (key) => host.drain(key) });
 * await own.start();
 * const answer = await own.acquire({ tenant: 't', room: 'lobby' }); // { owned: true, epoch: 7 } or the owner
 */
export class RoomOwnership {
  private readonly memberId: string;
  private readonly leaseTtlMs: number;
  private readonly memberTtlMs: number;
  private readonly rooms = new Map<string, Room>();
  /** One claim in flight per room, so two concurrent `acquire`s never race each other's claim. */
  private readonly acquiring = new Map<string, Promise<AcquireResult>>();
  private cancelHeartbeat: Cancel = () => undefined;
  private stopped = false;

  constructor(private readonly options: RoomOwnershipOptions) {
    this.memberId = options.memberId;
    this.leaseTtlMs = positiveInteger('leaseTtlMs', options.leaseTtlMs ?? 5_000);
    this.memberTtlMs = positiveInteger('memberTtlMs', options.memberTtlMs ?? 5_000);
  }

  /** Joins membership and keeps heartbeating every third of the member TTL. */
  async start(): Promise<void> {
    await this.options.membership.join(this.memberId, this.memberTtlMs);
    this.scheduleHeartbeat();
  }

  /** Owns the room if placement picks this member and the lease is granted; otherwise names who should own it. */
  acquire(key: RoomKey, options: AcquireOptions = {}): Promise<AcquireResult> {
    const id = roomId(key);
    const room = this.rooms.get(id);
    if (room && this.believed(room)) return Promise.resolve({ owned: true, epoch: room.epoch });
    const inFlight = this.acquiring.get(id);
    if (inFlight) return inFlight;
    const attempt = this.claim(key, options.avoid ?? []).finally(() => this.acquiring.delete(id));
    this.acquiring.set(id, attempt);
    return attempt;
  }

  /**
   * Re-reads the members and hands off every owned room that placement now puts elsewhere (`onHandoff`, then
   * release). A member that is no longer live itself hands off everything: the others already place its rooms.
   */
  async rebalance(): Promise<void> {
    const members = await this.options.membership.members();
    const moving = [...this.rooms.values()].filter(
      (room) => !room.handingOff && placeRoom(room.key, members) !== this.memberId,
    );
    await Promise.all(moving.map((room) => this.handOff(room)));
  }

  /** Gives the room up now, without `onHandoff` (the caller has finished with it). */
  async release(key: RoomKey): Promise<void> {
    const room = this.rooms.get(roomId(key));
    if (room) await this.forgetAndRelease(room);
  }

  /** The rooms whose lease is proven right now, with their epochs. */
  owned(): OwnedRoom[] {
    return [...this.rooms.values()]
      .filter((room) => this.believed(room))
      .map((room) => ({ key: room.key, epoch: room.epoch }));
  }

  /** Hands off every room (`onHandoff` + release), leaves membership and clears every timer. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.cancelHeartbeat();
    await Promise.all([...this.rooms.values()].filter((r) => !r.handingOff).map((r) => this.handOff(r)));
    await this.options.membership.leave(this.memberId);
  }

  private async claim(key: RoomKey, avoid: readonly string[]): Promise<AcquireResult> {
    if (this.stopped) return { owned: false };
    const members = await this.options.membership.members();
    const trusted = members.filter((member) => !avoid.includes(member));
    const owner = placeRoom(key, trusted.length > 0 ? trusted : members);
    if (owner !== this.memberId) return owner === undefined ? { owned: false } : { owned: false, owner };
    // Measured before the request leaves: the store starts the TTL later, so our deadline is never after its own.
    let sentAt = this.options.clock.now();
    let answer = await this.options.leases.claim(key, this.memberId, this.leaseTtlMs);
    if (!answer.granted && this.suspected(answer.holder, avoid)) {
      // The holder went silent: its lease runs out within one TTL, and claiming right then saves the gateway a
      // round of asking it and timing out. A holder that is alive renews meanwhile and is named below.
      const waitMs = answer.holder.expiresInMs + 20;
      await new Promise<void>((resolve) => this.options.scheduler.after(waitMs, resolve));
      if (this.stopped) return { owned: false };
      sentAt = this.options.clock.now();
      answer = await this.options.leases.claim(key, this.memberId, this.leaseTtlMs);
    }
    // A lease held by this very id belongs to a previous incarnation (or a misconfigured twin): adopting it could
    // make two processes owners, so wait for it to expire like anyone else would.
    if (!answer.granted) return { owned: false, owner: answer.holder.owner };
    const deadline = sentAt + Math.min(this.leaseTtlMs, answer.expiresInMs);
    if (this.stopped || this.options.clock.now() >= deadline) {
      // Stopped meanwhile, or the answer came back too late to prove anything: do not start a room on it.
      await this.options.leases.release(key, this.memberId, answer.epoch).catch(() => false);
      return { owned: false };
    }
    const room: Room = {
      key,
      epoch: answer.epoch,
      deadline,
      handingOff: false,
      cancelRenew: () => undefined,
      cancelDeadline: () => undefined,
    };
    this.rooms.set(roomId(key), room);
    this.scheduleRenew(room, this.renewEveryMs());
    this.armDeadline(room);
    return { owned: true, epoch: room.epoch };
  }

  private suspected(holder: LeaseHolder, avoid: readonly string[]): boolean {
    return (
      holder.owner !== this.memberId && avoid.includes(holder.owner) && holder.expiresInMs <= this.leaseTtlMs
    );
  }

  private scheduleRenew(room: Room, delayMs: number): void {
    room.cancelRenew = this.options.scheduler.after(delayMs, () => void this.renew(room));
  }

  private async renew(room: Room): Promise<void> {
    const sentAt = this.options.clock.now();
    let renewed: boolean;
    try {
      renewed = await this.options.leases.renew(room.key, this.memberId, room.epoch, this.leaseTtlMs);
    } catch (error) {
      if (!this.isCurrent(room)) return;
      // Store unreachable: retry, at the latest when the proven time ends (the deadline timer fires onLost then).
      this.options.logger?.warn({ err: error, room: room.key.room, epoch: room.epoch }, 'lease renew failed');
      const left = room.deadline - this.options.clock.now();
      if (left > 0) this.scheduleRenew(room, Math.min(this.renewEveryMs(), left));
      return;
    }
    if (!this.isCurrent(room)) return;
    if (!renewed) return this.lose(room);
    room.deadline = sentAt + this.leaseTtlMs;
    this.armDeadline(room);
    this.scheduleRenew(room, this.renewEveryMs());
  }

  /** Fires onLost when the proven time runs out, even while a renew hangs: stopping late could overlap a new owner. */
  private armDeadline(room: Room): void {
    room.cancelDeadline();
    const left = room.deadline - this.options.clock.now();
    room.cancelDeadline = this.options.scheduler.after(left, () => {
      if (this.isCurrent(room) && !this.believed(room)) this.lose(room);
    });
  }

  private lose(room: Room): void {
    this.forget(room);
    this.options.logger?.warn({ room: room.key.room, epoch: room.epoch }, 'room lease lost');
    this.options.onLost(room.key, room.epoch);
  }

  private async handOff(room: Room): Promise<void> {
    room.handingOff = true;
    try {
      await this.options.onHandoff(room.key, room.epoch);
    } catch (error) {
      // The room moves anyway: the next owner recovers from the last snapshot and the room log.
      this.options.logger?.error({ err: error, room: room.key.room }, 'room handoff failed');
    }
    // Lost during the handoff: onLost already ran and the lease is someone else's to give.
    if (this.isCurrent(room)) await this.forgetAndRelease(room);
  }

  /** Forget first, release second: this member stops believing before anyone else can be granted the room. */
  private async forgetAndRelease(room: Room): Promise<void> {
    this.forget(room);
    try {
      await this.options.leases.release(room.key, this.memberId, room.epoch);
    } catch (error) {
      // Harmless: the lease expires by itself within one TTL.
      this.options.logger?.warn({ err: error, room: room.key.room }, 'lease release failed');
    }
  }

  private forget(room: Room): void {
    room.cancelRenew();
    room.cancelDeadline();
    this.rooms.delete(roomId(room.key));
  }

  private scheduleHeartbeat(): void {
    this.cancelHeartbeat = this.options.scheduler.after(this.memberTtlMs / 3, () => void this.heartbeat());
  }

  private async heartbeat(): Promise<void> {
    try {
      const live = await this.options.membership.heartbeat(this.memberId, this.memberTtlMs);
      // Expired meanwhile: the others may already place our rooms elsewhere (our leases still fence them), so we
      // join again knowingly; the caller's next rebalance settles which rooms stay.
      if (!live && !this.stopped) await this.options.membership.join(this.memberId, this.memberTtlMs);
    } catch (error) {
      this.options.logger?.warn({ err: error, member: this.memberId }, 'membership heartbeat failed');
    }
    if (!this.stopped) this.scheduleHeartbeat();
  }

  private believed(room: Room): boolean {
    return this.options.clock.now() < room.deadline;
  }

  private isCurrent(room: Room): boolean {
    return this.rooms.get(roomId(room.key)) === room;
  }

  private renewEveryMs(): number {
    return Math.max(1, Math.floor(this.leaseTtlMs / 3));
  }
}

/** JSON of the pair is injective for any strings, unlike a joined string. */
function roomId(key: RoomKey): string {
  return JSON.stringify([key.tenant, key.room]);
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0)
    throw new RangeError(`${name} must be a positive integer, got ${value}`);
  return value;
}
