import { CloseCode, isPlainObject, parseJson } from '@p3/protocol';
import type { WebSocketLike } from '@p3/ecs-sync-server';
import {
  OutputPartAssembler,
  RoomOutputReceiver,
  decodeRoomOutputBatch,
  type Bus,
  type DocumentChangeEvent,
  type FrameBuffer,
  type Principal,
  type RoomKey,
  type RoomOutputEnvelope,
  type Scheduler,
} from '@p3/runtime';
import type { Logger } from 'pino';
import type { ClusterMetrics } from './cluster-metrics.js';
import { RoomInputSender } from './room-input-sender.js';
import type { OwnerRequests } from './owner-requests.js';

/** One ecs-sync socket of this gateway in the room. */
interface DocumentSocket {
  readonly attachment: string;
  readonly socket: WebSocketLike;
  /** Messages the socket sent before the owner accepted it: sent in order right after. */
  early: string[] | undefined;
  /** The owner that accepted it, and under which epoch; undefined while the join is in flight. */
  owner: string | undefined;
  epoch: number;
}

/** An SSE stream of this gateway following the room's durable changes. */
export interface DocumentFollower {
  onChange(change: DocumentChangeEvent): void;
  onEnd(): void;
}

export interface DocumentLinkOptions {
  readonly key: RoomKey;
  readonly gatewayId: string;
  readonly bus: Bus;
  readonly buffer: FrameBuffer;
  readonly requests: OwnerRequests;
  readonly scheduler: Scheduler;
  readonly logger: Logger;
  readonly metrics: ClusterMetrics;
  readonly onEmpty: (link: DocumentLink) => void;
  /** The last follower left: the owner may stop sending this gateway the room's changes. */
  readonly onUnfollowed: (link: DocumentLink, owner: string) => void;
}

/** Messages a socket may send before its owner accepted it; more close it (the client resends after a reconnect). */
const maxEarlyMessages = 256;

/**
 * A gateway's line to one document room (ecs-sync sockets) whose owner is a simulator: the room's output comes
 * through a RoomOutputReceiver (ordered, gaps repaired from the frame buffer, older epochs dropped) and each item
 * addressed to one of this gateway's sockets is sent to it as the room's JSON text, untouched; socket messages go to
 * `roomInput(key)` in batches. The gateway holds sockets, never room state.
 *
 * Sockets of an older ownership (output of a newer epoch, the owner gone from membership, or the owner not knowing
 * them) are closed with 4006 RoomMoved: the ecs-sync client reconnects and its `reconnect` diff resumes it.
 */
export class DocumentLink {
  readonly key: RoomKey;
  private readonly receiver: RoomOutputReceiver;
  private readonly sockets = new Map<string, DocumentSocket>();
  private readonly followers = new Set<DocumentFollower>();
  /** The owner that agreed to send this gateway the room's changes (while there are followers). */
  private followedOwner: string | undefined;
  /** The epoch of that owner: output of a newer one ends the followers (they resume on the new owner). */
  private followedEpoch = 0;
  private readonly sender: RoomInputSender;
  private readonly parts = new OutputPartAssembler();
  private epoch = 0;
  private started: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly options: DocumentLinkOptions) {
    this.key = options.key;
    this.sender = new RoomInputSender({
      key: options.key,
      gatewayId: options.gatewayId,
      bus: options.bus,
      metrics: options.metrics,
      logger: options.logger,
      roster: () => [...this.sockets.keys()],
    });
    this.receiver = new RoomOutputReceiver({
      bus: options.bus,
      buffer: options.buffer,
      key: options.key,
      scheduler: options.scheduler,
      logger: options.logger,
      onMessage: (envelope) => this.output(envelope),
      onUnrepairable: () => {
        options.metrics.unrepairable.inc();
        this.parts.reset();
        this.moveAll('the document room output had a gap; reconnect to resume');
      },
    });
  }

  start(): Promise<void> {
    this.started ??= this.receiver.startAtLatest().then(
      (latest) => {
        this.epoch = latest?.epoch ?? 0;
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

  get socketCount(): number {
    return this.sockets.size + this.followers.size;
  }

  /**
   * A change stream of this gateway follows the room (the owner `owner` agreed to send the changes). Returns the
   * function that ends it.
   */
  follow(follower: DocumentFollower, owner: string, epoch: number): () => void {
    this.followers.add(follower);
    this.followedOwner = owner;
    this.followedEpoch = Math.max(epoch, this.epoch);
    return () => this.unfollow(follower);
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  /** The owners this link's sockets were accepted by (the liveness check closes the sockets of a dead one). */
  owners(): Set<string> {
    const owners = new Set<string>();
    for (const s of this.sockets.values()) if (s.owner !== undefined) owners.add(s.owner);
    if (this.followers.size > 0 && this.followedOwner !== undefined) owners.add(this.followedOwner);
    return owners;
  }

  /** A socket opened: asks the room's owner to accept it; what it sends meanwhile waits. */
  connect(
    attachment: string,
    socket: WebSocketLike,
    clientId: string,
    principal: Principal | undefined,
  ): void {
    const entry: DocumentSocket = { attachment, socket, early: [], owner: undefined, epoch: 0 };
    this.sockets.set(attachment, entry);
    void this.options.requests
      .join(
        {
          attachment,
          key: this.key,
          clientId,
          sessionStamp: 0,
          document: true,
          ...(principal === undefined ? {} : { principal }),
        },
        () => Promise.resolve(true),
      )
      .then((outcome) => {
        if (this.sockets.get(attachment) !== entry) {
          // Closed while joining: the owner that accepted it forgets it too.
          if (outcome.kind === 'joined') this.sender.queue({ attachment, leave: true });
          return;
        }
        if (outcome.kind !== 'joined') {
          this.options.metrics.joins.inc({ outcome: outcome.kind });
          this.forget(entry);
          const code = outcome.kind === 'refused' ? outcome.closeCode : CloseCode.Internal;
          entry.socket.close(code, outcome.reason);
          return;
        }
        this.options.metrics.joins.inc({ outcome: 'joined' });
        entry.owner = outcome.owner;
        entry.epoch = Math.max(outcome.epoch, this.epoch);
        const early = entry.early ?? [];
        entry.early = undefined;
        for (const message of early) this.sender.queue({ attachment, message });
      });
  }

  message(attachment: string, text: string): void {
    const entry = this.sockets.get(attachment);
    if (!entry) return;
    if (entry.early === undefined) {
      this.sender.queue({ attachment, message: text });
      return;
    }
    if (entry.early.length >= maxEarlyMessages) {
      this.forget(entry);
      entry.socket.close(CloseCode.RateLimited, 'too many messages before the room accepted the socket');
      return;
    }
    entry.early.push(text);
  }

  /** The socket closed: the owner ends its session (if it accepted it already). */
  disconnect(attachment: string): void {
    const entry = this.sockets.get(attachment);
    if (!entry) return;
    this.forget(entry);
    if (entry.early === undefined) this.sender.queue({ attachment, leave: true });
  }

  /** The owner does not know these sockets: they reconnect. */
  detached(attachments: readonly string[]): void {
    for (const attachment of attachments) {
      const entry = this.sockets.get(attachment);
      if (entry && entry.owner !== undefined) this.move(entry, 'the document room moved; reconnect');
    }
  }

  /** The owner of these sockets left the cluster: they reconnect to the next one. */
  ownerGone(owner: string): void {
    for (const entry of [...this.sockets.values()])
      if (entry.owner === owner) this.move(entry, 'the document room owner stopped; reconnect');
    if (this.followedOwner === owner) this.endFollowers();
  }

  /** Ends the link: its sockets are told to reconnect elsewhere (draining) and their sessions end at the owner. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const entry of [...this.sockets.values()]) {
      this.forget(entry);
      if (entry.early === undefined) this.sender.queue({ attachment: entry.attachment, leave: true });
      entry.socket.close(CloseCode.ServerDraining, 'gateway draining; reconnect');
    }
    this.endFollowers();
    this.sender.flush();
    this.receiver.stop();
  }

  private output(envelope: RoomOutputEnvelope): void {
    this.options.metrics.outputMessages.inc();
    this.options.metrics.outputBytes.inc(envelope.payload.byteLength);
    if (envelope.epoch > this.epoch) {
      this.epoch = envelope.epoch;
      for (const entry of [...this.sockets.values()])
        if (entry.owner !== undefined && entry.epoch < envelope.epoch)
          this.move(entry, 'the document room moved to another simulator; reconnect');
      // Change streams resume from their last version on the new owner.
      if (this.followedEpoch < envelope.epoch) this.endFollowers();
    }
    const batch = decodeRoomOutputBatch(envelope.payload);
    if (!batch.ok) {
      this.options.metrics.malformed.inc();
      return;
    }
    for (const part of batch.value.items) {
      const item = this.parts.accept(part);
      if (item === undefined) continue;
      if (item.kind === 'broadcast') {
        this.broadcast(item.message);
        continue;
      }
      if (item.kind !== 'send' && item.kind !== 'close') continue;
      const entry = this.sockets.get(item.connectionId);
      if (!entry) continue;
      if (item.kind === 'send') {
        entry.socket.send(item.message);
      } else {
        this.forget(entry);
        entry.socket.close(item.code, item.reason);
      }
    }
  }

  /** A change (or the end of the changes) for this gateway's followers, as the owner's JSON text. */
  private broadcast(text: string): void {
    if (this.followers.size === 0) return;
    const decoded = parseJson(text, { maxLength: text.length + 1, maxDepth: 64, maxKeys: 1_000_000 });
    const event = decoded.ok && isPlainObject(decoded.value) ? decoded.value : undefined;
    if (event?.type === 'end') return this.endFollowers();
    if (event?.type !== 'change' || typeof event.version !== 'number' || !Array.isArray(event.patches)) {
      this.options.metrics.malformed.inc();
      return;
    }
    const change: DocumentChangeEvent = {
      version: event.version,
      clientId: typeof event.clientId === 'string' ? event.clientId : '',
      patches: event.patches as DocumentChangeEvent['patches'],
    };
    for (const follower of [...this.followers]) follower.onChange(change);
  }

  private unfollow(follower: DocumentFollower): void {
    if (!this.followers.delete(follower)) return;
    if (this.followers.size > 0) return;
    const owner = this.followedOwner;
    this.followedOwner = undefined;
    if (owner !== undefined) this.options.onUnfollowed(this, owner);
    if (this.socketCount === 0) this.options.onEmpty(this);
  }

  private endFollowers(): void {
    const followers = [...this.followers];
    this.followers.clear();
    this.followedOwner = undefined;
    for (const follower of followers) follower.onEnd();
    if (followers.length > 0 && this.socketCount === 0) this.options.onEmpty(this);
  }

  private move(entry: DocumentSocket, reason: string): void {
    this.forget(entry);
    this.options.metrics.moved.inc();
    entry.socket.close(CloseCode.RoomMoved, reason);
  }

  private moveAll(reason: string): void {
    for (const entry of [...this.sockets.values()]) if (entry.owner !== undefined) this.move(entry, reason);
  }

  private forget(entry: DocumentSocket): void {
    if (this.sockets.get(entry.attachment) === entry) this.sockets.delete(entry.attachment);
    if (this.socketCount === 0) this.options.onEmpty(this);
  }

  /** Tells the owner every socket held here, so it can end those whose close the bus lost. */
  sendRoster(): void {
    if (this.sockets.size > 0) this.sender.sendRoster();
  }
}
