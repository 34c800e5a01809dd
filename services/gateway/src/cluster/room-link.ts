import { CloseCode, JsonCodec, type ClientMessage, type WelcomeMessage } from '@p3/protocol';
import {
  OutputPartAssembler,
  RoomOutputReceiver,
  decodeRoomOutputBatch,
  type Bus,
  type Cancel,
  type Clock,
  type FrameBuffer,
  type RoomKey,
  type RoomOutputEnvelope,
  type RoomOutputItem,
  type Scheduler,
} from '@p3/runtime';
import type { Logger } from 'pino';
import type { RoomFanout } from '../room-fanout.js';
import type { ClusterMetrics } from './cluster-metrics.js';
import { RoomInputSender } from './room-input-sender.js';

/** One socket's attachment to the room, from the join request to its leave. */
interface LinkMember {
  readonly attachment: string;
  /**
   * `pending`: join sent, no welcome yet; `welcomed`: the welcome came, the socket is not in the fanout yet (what the
   * room sends meanwhile is kept in `missed`); `attached`: in the fanout, the room's output reaches it directly.
   */
  state: 'pending' | 'welcomed' | 'attached';
  connectionId: string | undefined;
  /** The owner epoch the welcome came under: output of a newer epoch means the room moved away from it. */
  epoch: number;
  missed: RoomOutputItem[];
  onWelcome: ((welcome: WelcomeMessage, epoch: number) => void) | undefined;
}

export interface RoomLinkOptions {
  readonly key: RoomKey;
  readonly gatewayId: string;
  readonly bus: Bus;
  readonly buffer: FrameBuffer;
  readonly fanout: RoomFanout;
  readonly scheduler: Scheduler;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: ClusterMetrics;
  /** Attached members hear nothing from the room this long: its owner is gone, they reconnect. */
  readonly silenceMs: number;
  /** Called when the link has no members left and may be retired. */
  readonly onEmpty: (link: RoomLink) => void;
  /** The room's owner (the simulator that last accepted a join here) went silent. */
  readonly onSilent?: (owner: string) => void;
  /** False while this gateway cannot hear its own echo on the bus: a silent room is then no news of its owner. */
  readonly busHealthy?: () => boolean;
  /** Listens for the owner's pulse (see OwnerPulse) until the returned function is called. */
  readonly watchOwner?: (owner: string) => () => void;
}

const json = new JsonCodec();
/** How often the owner hears the roster of this gateway's attachments (see RoomInputBatch.roster). */
const rosterEveryMs = 5000;

/**
 * A gateway's line to one room it serves: subscribed to the room's output (through a RoomOutputReceiver: ordered,
 * deduplicated, gaps repaired from the frame buffer, older epochs dropped) only while some socket here is in the
 * room, it fans the output out to the sockets and batches their input onto `roomInput(key)`.
 *
 * When the room moves (output of a newer epoch, the owner silent for `silenceMs`, or the owner not knowing an
 * attachment), the sockets of the old ownership are closed with RoomMoved: their clients reconnect and resume with a
 * delta from the new owner, which recovered the room from its snapshot and log. The same for a gap the buffer could
 * not fill: a resumed session is the resync.
 */
export class RoomLink {
  readonly key: RoomKey;
  private readonly receiver: RoomOutputReceiver;
  private readonly members = new Map<string, LinkMember>();
  private readonly byConnection = new Map<string, LinkMember>();
  private readonly sender: RoomInputSender;
  private readonly parts = new OutputPartAssembler();
  private rosterAt = 0;
  private epoch = 0;
  private lastHeard: number;
  /** The simulator that last accepted a join here: the one to suspect when the room goes silent. */
  private owner: string | undefined;
  private unwatchOwner: () => void = () => undefined;
  private cancelWatch: Cancel = () => undefined;
  private started: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly options: RoomLinkOptions) {
    this.key = options.key;
    this.lastHeard = options.clock.now();
    this.sender = new RoomInputSender({
      key: options.key,
      gatewayId: options.gatewayId,
      bus: options.bus,
      metrics: options.metrics,
      logger: options.logger,
      roster: () => [...this.members.keys()],
    });
    this.receiver = new RoomOutputReceiver({
      bus: options.bus,
      buffer: options.buffer,
      key: options.key,
      scheduler: options.scheduler,
      logger: options.logger,
      onMessage: (envelope) => this.output(envelope),
      onUnrepairable: (gap) => {
        options.metrics.unrepairable.inc();
        options.logger.warn({ room: this.key.room, gap }, 'room output gap not repairable: members resume');
        this.parts.reset();
        this.moveAll(CloseCode.RoomMoved, 'room output had a gap; reconnect to resume');
      },
    });
  }

  /** Subscribed and live (the receiver starts at the room's latest buffered position). Idempotent. */
  start(): Promise<void> {
    this.started ??= this.receiver.startAtLatest().then(
      (latest) => {
        this.epoch = latest?.epoch ?? 0;
        this.watch();
      },
      (error: unknown) => {
        // The frame buffer unreachable (Redis away): this link is given up, and the join fails with a retryable
        // refusal; the next join makes a new link.
        this.stop();
        throw error;
      },
    );
    return this.started;
  }

  get memberCount(): number {
    return this.members.size;
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  /** A simulator accepted a join of this room: it owns the room now. */
  ownedBy(owner: string): void {
    if (owner === this.owner || this.stopped) return;
    this.unwatchOwner();
    this.owner = owner;
    this.unwatchOwner = this.options.watchOwner?.(owner) ?? (() => undefined);
  }

  /** The owner stopped pulsing: its members reconnect now, to the next owner, instead of after `silenceMs`. */
  ownerSilent(owner: string): void {
    if (owner !== this.owner || this.stopped) return;
    this.lastHeard = this.options.clock.now();
    this.moveAll(CloseCode.RoomMoved, 'the room owner stopped answering; reconnect');
  }

  /** Registers a join in flight; `onWelcome` runs when its welcome arrives in the room's output. */
  expect(attachment: string, onWelcome: (welcome: WelcomeMessage, epoch: number) => void): void {
    this.members.set(attachment, {
      attachment,
      state: 'pending',
      connectionId: undefined,
      epoch: 0,
      missed: [],
      onWelcome,
    });
  }

  /** The socket is in the fanout: deliver what the room sent it since its welcome, then let output flow. */
  attached(attachment: string): void {
    const member = this.members.get(attachment);
    if (!member || member.state !== 'welcomed') return;
    member.state = 'attached';
    const missed = member.missed;
    member.missed = [];
    for (const item of missed) this.deliverTo(member, item);
  }

  /** A client message of an attached member, batched with the others of this turn. */
  input(attachment: string, message: ClientMessage): void {
    if (!this.members.has(attachment)) return;
    this.sender.queue({ attachment, message: JSON.stringify(message) });
  }

  inputByConnection(connectionId: string, message: ClientMessage): void {
    const member = this.byConnection.get(connectionId);
    if (member) this.input(member.attachment, message);
  }

  /** The socket left (or its join was abandoned): the owner keeps the session for its resume grace. */
  leave(attachment: string): void {
    const member = this.members.get(attachment);
    if (!member) return;
    this.forget(member);
    this.sender.queue({ attachment, leave: true });
    this.checkEmpty();
  }

  leaveByConnection(connectionId: string): void {
    const member = this.byConnection.get(connectionId);
    if (member) this.leave(member.attachment);
  }

  /** The owner does not know these attachments: their sockets reconnect (it took the room over or restarted). */
  detached(attachments: readonly string[]): void {
    for (const attachment of attachments) {
      const member = this.members.get(attachment);
      if (member && member.state !== 'pending')
        this.move(member, CloseCode.RoomMoved, 'the room moved to another simulator; reconnect');
    }
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.cancelWatch();
    this.unwatchOwner();
    this.sender.flush();
    this.receiver.stop();
  }

  private output(envelope: RoomOutputEnvelope): void {
    this.lastHeard = this.options.clock.now();
    this.options.metrics.outputMessages.inc();
    this.options.metrics.outputBytes.inc(envelope.payload.byteLength);
    if (envelope.epoch > this.epoch) {
      this.epoch = envelope.epoch;
      // The sessions of the previous owner do not exist at the new one: their sockets resume there.
      for (const member of [...this.members.values()])
        if (member.state !== 'pending' && member.epoch < envelope.epoch)
          this.move(member, CloseCode.RoomMoved, 'the room moved to another simulator; reconnect');
    }
    const batch = decodeRoomOutputBatch(envelope.payload);
    if (!batch.ok) {
      this.options.metrics.malformed.inc();
      this.options.logger.warn(
        { room: this.key.room, code: batch.code, reason: batch.message },
        'bad room output',
      );
      return;
    }
    const { fanout } = this.options;
    for (const part of batch.value.items) {
      const item = this.parts.accept(part);
      if (item === undefined) continue;
      if (item.kind === 'welcome') {
        this.welcome(item.attachment, item.message, envelope.epoch);
        continue;
      }
      if (item.kind === 'broadcast') {
        const message = json.decodeServer(item.message);
        if (!message.ok) continue;
        fanout.broadcast(this.key, message.value);
        for (const member of this.members.values()) if (member.state === 'welcomed') member.missed.push(item);
        continue;
      }
      // Parts were put together above: what is left is addressed to one member.
      if (item.kind === 'part') continue;
      const member = this.byConnection.get(item.connectionId);
      if (!member) continue;
      if (member.state === 'welcomed') member.missed.push(item);
      else this.deliverTo(member, item);
    }
  }

  private welcome(attachment: string, text: string, epoch: number): void {
    const member = this.members.get(attachment);
    if (!member || member.state !== 'pending') return;
    const decoded = json.decodeServer(text);
    if (!decoded.ok || decoded.value.type !== 'welcome') {
      this.options.metrics.malformed.inc();
      return;
    }
    const welcome = decoded.value;
    // A previous attachment of the same client on this gateway was closed (Replaced) before this welcome.
    const previous = this.byConnection.get(welcome.connectionId);
    if (previous && previous !== member) this.forget(previous);
    member.state = 'welcomed';
    member.connectionId = welcome.connectionId;
    member.epoch = epoch;
    this.byConnection.set(welcome.connectionId, member);
    const onWelcome = member.onWelcome;
    member.onWelcome = undefined;
    onWelcome?.(welcome, epoch);
  }

  /** One item to one attached member (a broadcast it missed goes to it alone). */
  private deliverTo(member: LinkMember, item: RoomOutputItem): void {
    const connectionId = member.connectionId;
    if (connectionId === undefined) return;
    const { fanout } = this.options;
    if (item.kind === 'close') {
      this.forget(member);
      fanout.close(this.key, connectionId, item.code, item.reason);
      this.checkEmpty();
      return;
    }
    if (item.kind !== 'broadcast' && item.kind !== 'send') return;
    const message = json.decodeServer(item.message);
    if (message.ok) fanout.send(this.key, connectionId, message.value);
  }

  /** Closes one member's socket with a reconnect code, without telling the room (it does not know the attachment). */
  private move(member: LinkMember, code: number, reason: string): void {
    this.forget(member);
    this.options.metrics.moved.inc();
    if (member.connectionId !== undefined)
      this.options.fanout.close(this.key, member.connectionId, code, reason);
    this.checkEmpty();
  }

  private moveAll(code: number, reason: string): void {
    for (const member of [...this.members.values()])
      if (member.state !== 'pending') this.move(member, code, reason);
  }

  private forget(member: LinkMember): void {
    if (this.members.get(member.attachment) === member) this.members.delete(member.attachment);
    if (member.connectionId !== undefined && this.byConnection.get(member.connectionId) === member)
      this.byConnection.delete(member.connectionId);
    member.missed = [];
  }

  private checkEmpty(): void {
    if (this.members.size === 0) this.options.onEmpty(this);
  }

  /** The silence watchdog: the owner sends at least an idle heartbeat a second while members are attached. */
  private watch(): void {
    const every = Math.max(50, Math.floor(this.options.silenceMs / 8));
    this.cancelWatch = this.options.scheduler.after(every, () => {
      if (this.stopped) return;
      const silent = this.options.clock.now() - this.lastHeard;
      const attached = [...this.members.values()].some((m) => m.state !== 'pending');
      if (!attached || this.options.busHealthy?.() === false) this.lastHeard = this.options.clock.now();
      else if (silent > this.options.silenceMs) {
        this.options.logger.warn(
          { room: this.key.room, silentMs: silent },
          'room owner silent: members resume',
        );
        this.lastHeard = this.options.clock.now();
        if (this.owner !== undefined) this.options.onSilent?.(this.owner);
        this.moveAll(CloseCode.RoomMoved, 'the room owner stopped answering; reconnect');
      }
      if (this.options.clock.now() - this.rosterAt >= rosterEveryMs) this.sendRoster();
      this.watch();
    });
  }

  /** Tells the owner every attachment held here, so it can end those whose `leave` the bus lost. */
  private sendRoster(): void {
    this.rosterAt = this.options.clock.now();
    if (this.members.size > 0) this.sender.sendRoster();
  }
}
