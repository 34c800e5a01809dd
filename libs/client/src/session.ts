import {
  CloseCode,
  ErrorCode,
  P3Error,
  PROTOCOL_VERSION,
  defaultCodecLimits,
  shouldReconnect,
  type AckMessage,
  type CatchupMessage,
  type ClientCodec,
  type ClientMessage,
  type Frame,
  type IdleMessage,
  type OpsMessage,
  type PongMessage,
  type RejectMessage,
  type ServerMessage,
  type WelcomeMessage,
  type WireData,
  type WorldSchema,
} from '@p3/protocol';
import type { ClockSync } from './clock-sync.js';
import type { Connection } from './connection.js';
import type { TypedEmitter } from './events.js';
import type { ResolvedOptions } from './options.js';
import { StampEstimator } from './stamp-estimator.js';
import type { Outbound } from './outbound.js';
import { frameView } from './p3-frame.js';
import type { P3ClientEvents } from './client-events.js';
import type { WorldState } from './entity-state.js';
import type { HeldFrame, Replica } from './replica.js';
import { SeenEvents } from './seen-events.js';
import { acceptedFields } from './write-guard.js';

export interface SessionDeps {
  readonly options: ResolvedOptions;
  readonly replica: Replica;
  readonly outbound: Outbound;
  readonly clock: ClockSync;
  readonly emitter: TypedEmitter<P3ClientEvents>;
  /** Schema known before any welcome (from the world definition), if any. */
  readonly schema: WorldSchema | undefined;
  /** The local view changed (drop caches). */
  invalidate(): void;
  /** Type of an entity in the local view (to re-check an op that cannot be encoded). */
  localType(entityId: string): string | undefined;
  onWelcome(): void;
}

type Phase = 'idle' | 'joining' | 'joined';

/** Pings right after a welcome (to converge fast), then one every `pingIntervalMs`. */
const quickPings = 5;
const quickPingSpacingMs = 50;
const pingIntervalMs = 2000;
/** Consecutive undecodable messages after which the socket is dropped and a fresh session is made. */
const maxDecodeFailures = 3;
/**
 * A `resync` not answered by a catch-up this long is sent again (the catch-up was lost: the room reloaded, a
 * gateway dropped it); frames wait meanwhile. The wait doubles per resend; after the last one the socket is dropped
 * and the reconnect's welcome brings the state instead.
 */
const catchupTimeoutMs = 2000;
const catchupResends = 2;
/**
 * The sendRate cap is a token bucket ([CLIENT-30]): sendRate batches a second on average, bursts of up to
 * `sendBurst`. A game writing at the send rate (a 50 ms timer at sendRate 20) writes a little early or late, and
 * a bucket full at a late write loses the refill of that lateness for good: the writer, whose rate equals the
 * refill, never earns it back. With half an interval of slack, a loaded client (event-loop stalls of 30 ms) sank
 * into debt and then held every write for the cap, 15 ms at the median; three intervals of slack absorb stalls
 * up to 150 ms at 20 a second, and the rate over any second stays sendRate plus the burst.
 */
const sendBurst = 4;

/**
 * The protocol spoken on one socket after it opens: join and welcome, frames in order (gaps resynced, corrections
 * rewound), acks and rejections of this client's ops, clock-sync pings, op batches and idle `cover` at sendRate.
 * It outlives sockets (the P3Client keeps one), and resets its per-socket state on every open and close.
 */
export class Session {
  connectionId: string | undefined;
  schema: WorldSchema | undefined;
  tickRate = 30;
  bufferFrame = 20;
  private phase: Phase = 'idle';
  private connection: Connection | undefined;
  private codec: ClientCodec | undefined;
  /** Server messages waiting for the welcome or for a catch-up, in arrival order. */
  private inbox: ServerMessage[] = [];
  private awaitingCatchup = false;
  /** Sends again the pending `resync` (see catchupTimeoutMs); how many times it was resent. */
  private catchupTimer: ReturnType<typeof setTimeout> | undefined;
  private catchupResent = 0;
  private joinStamp = 0;
  private joinSentAt = 0;
  private pingId = 0;
  private pingsSent = 0;
  /** Runs `flush` two send intervals after the latest ops send, when an idle cover may be due ([CLIENT-21]). */
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  /** The next op send, when one is due ([CLIENT-30]): in a microtask (idle link) or at the sendRate cap. */
  private sendTimer: ReturnType<typeof setTimeout> | 'microtask' | undefined;
  private lastOpsSentAt = -Infinity;
  /** Op sends allowed now (a token bucket: sendRate a second, at most `sendBurst`), as of `sendTokensAt`. */
  private sendTokens = sendBurst;
  private sendTokensAt = 0;
  private readonly stamps: StampEstimator;
  private pingTimer: ReturnType<typeof setTimeout> | undefined;
  private lastCover = -1;
  /** Clock time of this connection's last idle `cover` (undefined: none yet): one per idle stretch ([CLIENT-21]). */
  private idleCoverAt: number | undefined;
  /** A world found to hold no entity of this client: not scanned again until the world changes. */
  private ownsNothingIn: WorldState | undefined;
  private decodeFailures = 0;
  private stoppedForGood = false;
  private readonly seen = new SeenEvents();

  constructor(private readonly deps: SessionDeps) {
    this.schema = deps.schema;
    this.stamps = new StampEstimator(deps.clock, deps.options.inputDelayFrames);
  }

  get joined(): boolean {
    return this.phase === 'joined';
  }

  get tickInterval(): number {
    return 1000 / this.tickRate;
  }

  /** Frame an op sent now is stamped for ([CLIENT-31]); undefined before clock sync. */
  stampFrame(): number | undefined {
    return this.stamps.frame(this.tickInterval, this.deps.replica.frame + 1);
  }

  /** Ops were queued: they go out at the next send opportunity, never later than the sendRate cap ([CLIENT-30]). */
  queued(): void {
    if (this.phase !== 'joined' || this.sendTimer !== undefined) return;
    const missing = 1 - this.tokensNow(this.deps.clock.now());
    if (missing > 0) {
      this.sendTimer = setTimeout(
        () => this.sendDue(),
        Math.ceil((missing * 1000) / this.deps.options.sendRate),
      );
      return;
    }
    // An idle link: at once, with what else is written in the same turn (a game loop sets x, y and inputs together).
    this.sendTimer = 'microtask';
    queueMicrotask(() => {
      if (this.sendTimer === 'microtask') this.sendDue();
    });
  }

  // ------------------------------------------------------------------------------------------------------------
  // Socket events

  opened(connection: Connection, codec: ClientCodec, clientId: string): void {
    const { outbound, replica, clock, options } = this.deps;
    this.connection = connection;
    this.codec = codec;
    this.phase = 'joining';
    this.inbox = [];
    this.awaitingCatchup = false;
    this.stopCatchupTimer();
    this.decodeFailures = 0;
    this.lastCover = -1;
    this.idleCoverAt = undefined;
    // A new socket may reach a room whose clock restarted (failover, snapshot restore): sync again.
    clock.reset();
    outbound.resetConnection();
    this.stamps.reset();
    this.joinStamp = outbound.stamp;
    this.joinSentAt = clock.now();
    this.send({
      type: 'join',
      protocolVersion: PROTOCOL_VERSION,
      room: options.room,
      clientId,
      sessionStamp: this.joinStamp,
      ...(options.token === undefined ? {} : { token: options.token }),
      ...(replica.frame >= 0 ? { resumeFrame: replica.frame } : {}),
    });
    // Seed 002 reconnect, step 1 "start queueing websocket events": from here until the welcome, server messages
    // wait in the inbox. Step 2 "emit queued changes (drain queue)": the offline queue goes out right behind the
    // join. Unstamped (the clock is not synced on this socket yet), so the server applies them at its next tick;
    // it drops what it already applied by (clientId, stamp, seq). Steps 3-5 happen in `welcome`.
    this.sendOps(undefined);
  }

  message(data: WireData): void {
    const codec = this.codec;
    if (codec === undefined) return;
    const decoded = codec.decodeServer(data);
    if (!decoded.ok) {
      this.deps.emitter.emit('error', decoded.error);
      // One bad message is skipped; a run of them means the codec lost track (e.g. the binary entity directory):
      // a fresh socket gets a fresh welcome.
      if (++this.decodeFailures >= maxDecodeFailures)
        this.connection?.drop(CloseCode.Internal, 'undecodable server messages');
      return;
    }
    this.decodeFailures = 0;
    const message = decoded.value;
    switch (message.type) {
      case 'welcome':
        this.welcome(message);
        return;
      case 'pong':
        this.pong(message);
        return;
      case 'error':
        this.deps.emitter.emit('error', new P3Error(message.code, message.reason));
        return;
      case 'catchup':
        if (this.phase !== 'joined') this.inbox.push(message);
        else this.catchup(message);
        this.pump();
        return;
      default:
        this.inbox.push(message);
        this.pump();
    }
  }

  /** The socket closed (or could not open). Returns whether the client reconnects. */
  closed(code: number, reason: string, mayReconnect: boolean): boolean {
    const wasJoined = this.phase === 'joined';
    this.stopTimers();
    this.phase = 'idle';
    this.codec = undefined;
    this.connection = undefined;
    this.inbox = [];
    this.awaitingCatchup = false;
    const willReconnect = mayReconnect && shouldReconnect(code);
    // Failed attempts while reconnecting stay quiet; the end of a session, or of the client, is announced once.
    if ((wasJoined || !willReconnect) && !this.stoppedForGood)
      this.deps.emitter.emit('disconnect', { code, reason, willReconnect });
    if (!willReconnect) this.stoppedForGood = true;
    return willReconnect;
  }

  /** Sends what is unsent, then `leave` (the room removes this client's connection-bound entities at once). */
  leave(): void {
    if (this.phase !== 'joined') return;
    this.sendOps(this.stampFrame());
    this.send({ type: 'leave' });
  }

  // ------------------------------------------------------------------------------------------------------------
  // Server messages

  private welcome(w: WelcomeMessage): void {
    if (this.phase !== 'joining') {
      this.deps.emitter.emit('error', new P3Error(ErrorCode.InvalidMessage, 'unexpected welcome'));
      return;
    }
    const { replica, outbound, clock, emitter } = this.deps;
    this.schema = w.schema;
    this.tickRate = w.tickRate;
    this.bufferFrame = w.bufferFrame;
    this.connectionId = w.connectionId;
    replica.setCapacity(w.bufferFrame);
    replica.setTickInterval(this.tickInterval);
    this.seen.setWindow(w.bufferFrame);
    // Seed 002 reconnect, steps 3 and 4: the welcome is the (delta) bootstrap. `delta: false` replaces the world
    // (first join, or a session the server no longer had); `delta: true` holds what changed since resumeFrame.
    if (!w.delta) this.seen.forgetAfter(w.frame);
    replica.bootstrap(w.frame, w.frame * this.tickInterval, w.entities, w.removed, !w.delta);
    clock.addSample(this.joinSentAt, w.serverTime, this.deps.clock.now());
    // Ops the server already applied for this stamp are done (the rest were re-sent behind the join).
    outbound.ack(this.joinStamp, w.lastSeq, undefined, w.frame + 1);
    outbound.settle(w.frame);
    // Step 5: apply what arrived meanwhile (frames the welcome already covers are dropped), stop queueing.
    this.inbox = this.inbox.filter((m) => m.type !== 'frame' || m.frame.id > w.frame);
    this.phase = 'joined';
    this.deps.invalidate();
    this.startTimers();
    this.deps.onWelcome();
    this.pump();
    emitter.emit('connect', { connectionId: w.connectionId, resumed: w.delta, frame: w.frame });
  }

  /** Handles queued messages in order until one must wait (a gap: its catch-up comes first). */
  private pump(): void {
    while (this.phase === 'joined' && !this.awaitingCatchup && this.inbox.length > 0) {
      const message = this.inbox[0]!;
      if (this.handle(message) === 'wait') break;
      this.inbox.shift();
    }
  }

  private handle(message: ServerMessage): 'done' | 'wait' {
    switch (message.type) {
      case 'frame':
        return this.frame(message.frame, message.prev);
      case 'idle':
        return this.idle(message);
      case 'ack':
        this.ack(message);
        return 'done';
      case 'reject':
        this.reject(message);
        return 'done';
      case 'catchup':
        this.catchup(message);
        return 'done';
      default:
        return 'done';
    }
  }

  /** A frame of the room's stream, after frame `prev` (the frames in between were empty: [CLIENT-20]). */
  private frame(frame: Frame, prev: number | undefined): 'done' | 'wait' {
    this.stamps.observe(frame);
    const outcome = this.deps.replica.apply(frame, prev);
    switch (outcome.kind) {
      case 'stale':
        return 'done';
      case 'gap':
        // Frames are missing: ask for everything since the last one held; this frame waits for the catch-up.
        this.resync(this.deps.replica.frame);
        return 'wait';
      case 'unrewindable':
        // A correction older than the held history: the catch-up since the frame before it covers it.
        this.resync(outcome.from);
        return 'done';
      default:
        this.authoritative(outcome.held);
        return 'done';
    }
  }

  /**
   * An `idle` heartbeat: the frames after `prev` up to `through` were empty. The frame clock advances (ops settle,
   * predictions start from the new latest frame); no `frame` event, nothing changed. After a missed message it is a
   * gap like a frame's ([CLIENT-20]).
   */
  private idle(m: IdleMessage): 'done' | 'wait' {
    const { replica, outbound } = this.deps;
    switch (replica.skip(m.prev, m.through)) {
      case 'gap':
        this.resync(replica.frame);
        return 'wait';
      case 'stale':
        return 'done';
      case 'advanced':
        outbound.settle(replica.frame);
        this.deps.invalidate();
        return 'done';
    }
  }

  private catchup(c: CatchupMessage): void {
    const { replica } = this.deps;
    if (!c.full && c.from > replica.frame) {
      // A delta from after what this client holds cannot apply: ask again from what it holds.
      this.resync(replica.frame);
      return;
    }
    if (!this.awaitingCatchup && c.to < replica.frame) return;
    this.awaitingCatchup = false;
    this.stopCatchupTimer();
    this.authoritative(
      replica.bootstrap(c.to, c.to * this.tickInterval, c.entities, c.removed, c.full, c.from),
    );
  }

  /** A new authoritative frame is held (applied, corrected, or a catch-up): settle ops, deliver events and the frame. */
  private authoritative(held: HeldFrame): void {
    const { replica, outbound, emitter } = this.deps;
    outbound.settle(replica.frame);
    this.deps.invalidate();
    const events = this.seen.fresh(held.frame.events, held.frame.id);
    emitter.emit('frame', frameView(held.frame, held));
    for (const event of events) emitter.emit('event', event);
  }

  private ack(a: AckMessage): void {
    // In-order delivery: the first frame that can include these ops is the one after the latest held.
    this.deps.outbound.ack(a.stamp, a.seq, a.missing, this.deps.replica.frame + 1);
    // Ops the room reported missing go out again at the next send opportunity.
    if (this.deps.outbound.hasUnsent()) this.queued();
  }

  private reject(r: RejectMessage): void {
    const { outbound, emitter } = this.deps;
    if (r.code === ErrorCode.SequenceOutOfWindow && r.stamp === outbound.stamp) {
      // Not recorded by the server (too far ahead of a gap): send it again once the gap is filled.
      outbound.resend(r.stamp, r.seq);
      return;
    }
    if (r.code === ErrorCode.FrameDropped && r.stamp === outbound.stamp)
      this.stamps.dropped(this.bufferFrame * this.tickInterval);
    const op = outbound.reject(r.stamp, r.seq);
    emitter.emit('reject', { code: r.code, reason: r.reason, op, stamp: r.stamp, seq: r.seq });
  }

  private pong(p: PongMessage): void {
    this.deps.clock.addSample(p.clientTime, p.serverTime, this.deps.clock.now());
  }

  private resync(from: number): void {
    this.awaitingCatchup = true;
    this.send({ type: 'resync', frame: from });
    this.stopCatchupTimer();
    this.catchupResent = 0;
    this.armCatchupTimer(from);
  }

  /** Sends the pending `resync` again when its catch-up does not come in time (see catchupTimeoutMs). */
  private armCatchupTimer(from: number): void {
    const wait = catchupTimeoutMs * 2 ** this.catchupResent;
    this.catchupTimer = setTimeout(() => {
      this.catchupTimer = undefined;
      if (this.phase !== 'joined' || !this.awaitingCatchup) return;
      if (this.catchupResent >= catchupResends) {
        this.connection?.drop(CloseCode.Internal, 'catch-up not received');
        return;
      }
      this.catchupResent++;
      this.send({ type: 'resync', frame: from });
      this.armCatchupTimer(from);
    }, wait);
  }

  private stopCatchupTimer(): void {
    if (this.catchupTimer !== undefined) clearTimeout(this.catchupTimer);
    this.catchupTimer = undefined;
  }

  // ------------------------------------------------------------------------------------------------------------
  // Sending

  private startTimers(): void {
    this.stopTimers();
    this.pingsSent = 0;
    this.armIdleCheck();
    this.ping();
    // Ops written while joining go out now, not at the first interval.
    this.queued();
  }

  private stopTimers(): void {
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    if (this.pingTimer !== undefined) clearTimeout(this.pingTimer);
    this.idleTimer = undefined;
    this.pingTimer = undefined;
    if (this.sendTimer !== undefined && this.sendTimer !== 'microtask') clearTimeout(this.sendTimer);
    this.sendTimer = undefined;
    this.stopCatchupTimer();
  }

  private ping(): void {
    if (this.phase !== 'joined') return;
    const clientTime = this.deps.clock.now();
    this.send({
      type: 'ping',
      id: (this.pingId = (this.pingId + 1) % 0xffffffff),
      clientTime: Math.max(0, clientTime),
    });
    this.pingsSent++;
    this.pingTimer = setTimeout(
      () => this.ping(),
      this.pingsSent < quickPings ? quickPingSpacingMs : pingIntervalMs,
    );
  }

  /**
   * Arms the idle check two send intervals from now. Node's timer is pushed back in place, so a client sending at its
   * rate never wakes for it (a timer per send interval per client cost more than its sends); elsewhere the pending
   * check finds the cover not due yet and waits for the rest.
   */
  private armIdleCheck(): void {
    const timer = this.idleTimer as { refresh?: () => unknown } | number | undefined;
    if (timer === undefined) {
      this.idleTimer = setTimeout(() => this.idleCheck(), (2 * 1000) / this.deps.options.sendRate);
    } else if (typeof timer === 'object' && typeof timer.refresh === 'function') {
      timer.refresh();
    }
  }

  private idleCheck(): void {
    this.idleTimer = undefined;
    if (this.phase !== 'joined') return;
    const wait = this.lastOpsSentAt + (2 * 1000) / this.deps.options.sendRate - this.deps.clock.now();
    if (wait > 0) {
      this.idleTimer = setTimeout(() => this.idleCheck(), Math.ceil(wait));
      return;
    }
    this.flush();
    // No cover yet for the ops sent (the client owns nothing yet: a frame may bring that): look again later.
    if (this.idleCoverAt === undefined || this.lastOpsSentAt >= this.idleCoverAt) this.armIdleCheck();
  }

  /**
   * Two send intervals after the last ops send: unsent ops as batches, else (while owning entities) one `cover` when
   * the client falls idle, which keeps the room's frames `verified` until its next ops ([CLIENT-21]).
   */
  private flush(): void {
    // A send is due (queued): it takes the ops, at the cap ([CLIENT-30]).
    if (this.phase !== 'joined' || this.sendTimer !== undefined) return;
    const frame = this.stampFrame();
    if (this.sendOps(frame) || frame === undefined || !this.idleCoverDue() || !this.ownsEntities()) return;
    this.lastCover = Math.max(this.lastCover, frame);
    this.send({ type: 'cover', through: this.lastCover });
    this.idleCoverAt = this.deps.clock.now();
  }

  /**
   * An idle `cover` is due once per idle stretch: no ops went out for two send intervals (a client sending at its
   * rate never sends one), and ops went out since the last cover on this connection (or none was sent yet).
   */
  private idleCoverDue(): boolean {
    const now = this.deps.clock.now();
    if (now - this.lastOpsSentAt < 2000 / this.deps.options.sendRate) return false;
    return this.idleCoverAt === undefined || this.lastOpsSentAt >= this.idleCoverAt;
  }

  private ownsEntities(): boolean {
    const me = this.connectionId;
    if (me === undefined) return false;
    const world = this.deps.replica.world;
    if (world === this.ownsNothingIn) return false;
    for (const entity of world.values()) if (entity.owner === me) return true;
    this.ownsNothingIn = world;
    return false;
  }

  /** Sends the unsent ops stamped for `frame`; true when something was sent. */
  private sendOps(frame: number | undefined): boolean {
    if (this.codec === undefined) return false;
    const batches = this.deps.outbound.takeBatches(frame, this.deps.options.inputDelayFrames !== 'arrival');
    for (const batch of batches) {
      this.sendBatch(batch);
      this.stamps.sent(batch);
    }
    if (frame !== undefined && batches.length > 0) this.lastCover = Math.max(this.lastCover, frame);
    if (batches.length > 0) {
      const now = this.deps.clock.now();
      this.lastOpsSentAt = now;
      this.armIdleCheck();
      this.sendTokens = this.tokensNow(now) - 1;
      this.sendTokensAt = now;
    }
    return batches.length > 0;
  }

  /** The send `queued` scheduled is due. */
  private sendDue(): void {
    this.sendTimer = undefined;
    if (this.phase === 'joined') this.sendOps(this.stampFrame());
  }

  /** Op sends the sendRate cap allows at `now` (below 1: wait). */
  private tokensNow(now: number): number {
    const refill = ((now - this.sendTokensAt) * this.deps.options.sendRate) / 1000;
    return Math.min(sendBurst, this.sendTokens + refill);
  }

  /** Encodes one batch; one too large for the server's limit is split in two (sequence numbers stay consecutive). */
  private sendBatch(batch: OpsMessage): void {
    let data: WireData;
    try {
      data = this.codec!.encodeClient(batch);
    } catch (error) {
      if (batch.ops.length > 1) return this.split(batch);
      return this.unencodable(batch, error);
    }
    if (batch.ops.length > 1 && byteSize(data) > defaultCodecLimits.maxMessageBytes) return this.split(batch);
    this.connection?.send(data);
  }

  private split(batch: OpsMessage): void {
    const half = Math.ceil(batch.ops.length / 2);
    this.sendBatch({ ...batch, ops: batch.ops.slice(0, half) });
    this.sendBatch({ ...batch, seq: batch.seq + half, ops: batch.ops.slice(half) });
  }

  /**
   * An op the codec refuses (written before the schema was known, with fields the schema lacks): it keeps its
   * sequence number (a gap would stall the server's acks) with the refused fields removed, and is reported.
   */
  private unencodable(batch: OpsMessage, error: unknown): void {
    const op = batch.ops[0]!;
    const cause =
      error instanceof P3Error
        ? error
        : new P3Error(ErrorCode.InvalidMessage, 'op cannot be encoded', { cause: error });
    if ((op.op === 'create' || op.op === 'update') && this.schema !== undefined) {
      const typeName = op.op === 'create' ? op.typeName : this.deps.localType(op.entityId);
      const data = acceptedFields(this.schema, typeName, op.data, op.op === 'create');
      const { frame: _frame, ...base } = { ...op, data };
      this.deps.outbound.replace(batch.stamp, batch.seq, base);
      this.deps.emitter.emit('reject', {
        code: cause.code,
        reason: cause.message,
        op,
        stamp: batch.stamp,
        seq: batch.seq,
      });
      try {
        this.connection?.send(this.codec!.encodeClient({ ...batch, ops: [{ ...op, data }] }));
        return;
      } catch {
        // Fall through: reported below; the op stays queued.
      }
    }
    this.deps.emitter.emit('error', cause);
  }

  private send(message: ClientMessage): void {
    const codec = this.codec;
    if (codec === undefined) return;
    try {
      this.connection?.send(codec.encodeClient(message));
    } catch (error) {
      this.deps.emitter.emit(
        'error',
        error instanceof P3Error
          ? error
          : new P3Error(ErrorCode.Internal, 'cannot encode a message', { cause: error }),
      );
    }
  }
}

function byteSize(data: WireData): number {
  if (typeof data !== 'string') return data.byteLength;
  return data.length * 3 <= defaultCodecLimits.maxMessageBytes
    ? data.length
    : new TextEncoder().encode(data).byteLength;
}
