import {
  CloseCode,
  ErrorCode,
  P3Error,
  PROTOCOL_VERSION,
  type ClientMessage,
  type EntityUpdate,
  type Frame,
  type Op,
  type OpsMessage,
  type ServerMessage,
  type WelcomeMessage,
} from '@p3/protocol';
import {
  SequenceReceiver,
  World,
  type SequenceVerdict,
  type LoggedConnection,
  type WorldDefinition,
  type WorldLogRecord,
  type WorldSnapshot,
} from '@p3/engine';
import type { Clock } from './ports/clock.js';
import type { RoomLog } from './ports/room-log.js';
import type { RoomOutput } from './ports/room-output.js';
import type { Cancel, Scheduler } from './ports/scheduler.js';
import type { RoomKey } from './ports/snapshot-store.js';
import { OutOfOrderOps } from './out-of-order-ops.js';
import { randomId } from './random-id.js';
import { RoomJournal } from './room-journal.js';
import type { JoinRequest, JoinResult, Principal } from './room-service.js';
import { unscopedRoomName } from './team-scope.js';
import type {
  MemberGone,
  MemberRecord,
  TickedRoomLogRecord,
  TickedRoomSnapshot,
} from './ticked-room-state.js';

export interface MemberInfo {
  readonly connectionId: string;
  readonly clientId: string;
  readonly principal: Principal | undefined;
  readonly attached: boolean;
}

/** What a room tells its host (and through it, P3Server listeners). All optional. */
export interface RoomEvents {
  connection?(room: TickedRoom, member: MemberInfo): void;
  disconnection?(room: TickedRoom, member: MemberInfo): void;
  frame?(room: TickedRoom, frame: Frame, corrections: readonly Frame[]): void;
  frameDropped?(
    room: TickedRoom,
    info: { connectionId: string; frame: number; current: number; reason: string },
  ): void;
  entityCreated?(room: TickedRoom, connectionId: string, entity: EntityUpdate): void;
  /**
   * One `ops` message was handled: `submitted` ops went to the world (duplicates and out-of-window sequence numbers
   * not counted), `late` of them were stamped for a frame the room had already simulated (applied by re-simulation:
   * corrections). Ops refused as older than the buffer window come as `frameDropped`.
   */
  opsReceived?(room: TickedRoom, submitted: number, late: number): void;
  /**
   * The tick timer ran: `lateMs` after the frame's due time on the room's clock (timer granularity, a busy event
   * loop, GC pauses), and its ticks took `workMs`. Both count in every member's latency: hosts export them.
   */
  ticked?(room: TickedRoom, timing: { readonly lateMs: number; readonly workMs: number }): void;
  error?(room: TickedRoom, error: unknown): void;
  /**
   * The room log refused a record (disk full, I/O error): nothing after it can be acknowledged. The room has
   * stopped; its host drops it without a snapshot (as a crash would) so that the next join reloads it.
   */
  logFailed?(room: TickedRoom, error: unknown): void;
  /** A log record became durable `latencyMs` after the step appended it (what acks wait for on top of batching). */
  logged?(room: TickedRoom, latencyMs: number): void;
}

export interface TickedRoomOptions {
  readonly key: RoomKey;
  readonly world: WorldDefinition;
  readonly tickRate: number;
  readonly bufferFrame: number;
  readonly clock: Clock;
  readonly scheduler: Scheduler;
  readonly output: RoomOutput;
  readonly events?: RoomEvents;
  /** A world to start from (a bare world snapshot; `restored` carries a whole room). */
  readonly snapshot?: WorldSnapshot;
  /** A room to start from: world, members (detached, resumable for `resumeGraceMs`) and sequence state. */
  readonly restored?: TickedRoomSnapshot;
  /** With `restored`: the frame to continue at (see `resumeFrame` in ticked-room-state). */
  readonly resumeFrame?: number;
  /**
   * The room log. With it every step's changes go to the log, and acks (op acks, refusals of consumed sequence
   * numbers, `welcome.lastSeq`) only tell what is durable. Frames are not held back: a client may see a frame
   * whose changes a crash then loses; after the restart its resume from such a frame gets the full state, and the
   * lost frame ids are never issued again, so it cannot mistake new state for the lost one.
   */
  readonly log?: RoomLog;
  /** Wall-clock ms, only for the `wallMs` of log records and snapshots. Default Date.now. */
  readonly wallClock?: () => number;
  /**
   * With a log: at most one record per this many ms of the room's clock (default 250). Longer intervals write
   * less (an entity changed every tick is logged once per record) and delay acks by up to the interval; acks of a
   * member that keeps sending go out once per `ackIntervalMs` anyway.
   */
  readonly logIntervalMs?: number;
  /**
   * A member that keeps sending gets one ack per this many ms of the room's clock (or once 64 ops wait), covering
   * everything received meanwhile. Default 250: the client drops an acknowledged op from its resend log within a
   * quarter second, before its garbage collector has to keep it, for 3 more small messages a second than acking
   * once a second.
   */
  readonly ackIntervalMs?: number;
  readonly seed: number;
  /** Wall-clock ms at frame 0 (timestamps of ids the world creates). */
  readonly frameZeroWallMs: number;
  /** How long a member whose socket closed keeps its connection (and connection-bound entities). */
  readonly resumeGraceMs: number;
  /** Most ticks run at once to catch up after a stall; beyond it the room skips ahead. */
  readonly maxCatchUpTicks: number;
  /**
   * A new member is refused (ROOM_FULL, close 4104) when the room has this many (detached members within their
   * resume grace keep their seat; a member resuming its session is never refused). Default unlimited.
   */
  readonly maxMembers?: number;
  /**
   * While its ticks change nothing, the room sends no frames but at most one `idle` heartbeat per this many ms of
   * its clock ("frames up to N were empty"), so clients advance their frame clock and still detect gaps. Default
   * 1000 (`P3_IDLE_HEARTBEAT_MS`).
   */
  readonly idleHeartbeatMs?: number;
  /**
   * Where in the tick interval this room ticks, on the clock's timeline: ticks fall at `origin + phase x interval`
   * plus whole intervals (origin and phase in ms and 0..1). Hosts spread their rooms' phases so that ticks, and
   * the bursts of frames they send, do not all come at once. Default: the room ticks from its start.
   */
  readonly tickPhase?: { readonly origin: number; readonly phase: number };
}

interface Member {
  readonly connectionId: string;
  readonly clientId: string;
  readonly principal: Principal | undefined;
  stamp: number;
  attached: boolean;
  /**
   * Counts the member's attachments (joins and resumes): a session's `leave` detaches only the attachment it was
   * given, so the close of a replaced socket, whenever it runs, never detaches the connection that replaced it.
   */
  attachment: number;
  graceTimer: Cancel | undefined;
  /** Stamp with ops received since the last ack (acks are batched: see `flushAcks`). */
  ackDue: number | undefined;
  /** Ops received since the last ack. */
  unacked: number;
  /** Frame of the last ack sent. */
  ackedAt: number;
  /** Stamp and sequence number of the last ack sent. */
  ackedStamp: number;
  ackedSeq: number;
  /** Ops that came ahead of a gap in the member's sequence, until it is filled (created on first use). */
  held: OutOfOrderOps<Op> | undefined;
}

/** An ack goes out once this many ops wait for one, even before its interval is up (bounds the client's resend log). */
const ACK_AFTER_OPS = 64;

/** Default of TickedRoomOptions.ackIntervalMs. */
export const defaultAckIntervalMs = 250;

/** Default of TickedRoomOptions.idleHeartbeatMs. */
export const defaultIdleHeartbeatMs = 1000;

/**
 * A ticked world hosted in a process: members, sequence numbers (seed 001), a fixed-step tick loop driven by
 * the injected clock and scheduler, and messages out through RoomOutput.
 */
export class TickedRoom {
  readonly key: RoomKey;
  readonly world: World;
  private readonly options: TickedRoomOptions;
  private readonly members = new Map<string, Member>();
  /** Members with an ack due (see flushAcks): a tick looks at these, not at every member of a big idle room. */
  private readonly acksDue = new Set<Member>();
  private readonly byClient = new Map<string, string>();
  private readonly receiver = new SequenceReceiver();
  /** Ops of the message being received that were submitted, and of those the late ones (see receiveOps). */
  private opsSubmitted = 0;
  private opsLate = 0;
  /**
   * Entities whose creation was reported (`entityCreated`), with the frame that created them: a correction may
   * re-send that frame while it is inside the buffer window, never after, so older entries are forgotten.
   */
  private readonly announced = new Map<string, number>();
  private readonly journal: RoomJournal | undefined;
  /** Clock time of the last log record (see journalStep). */
  private journaledAt = -Infinity;
  /** Members joined or removed since the last log record (by client id). */
  private readonly memberChanges = new Map<string, MemberRecord | MemberGone>();
  /**
   * Clients with a member record in the durable state (the last snapshot plus the records appended since): a
   * member that joined and changed nothing is not written anywhere (see journalStep), so its departure is not
   * either.
   */
  private readonly durableClients = new Set<string>();
  /** Connections of members not in the durable state yet: their world connection entries can wait too. */
  private readonly ephemeralConnections = new Set<string>();
  /** World connection entries of steps that changed nothing durable, carried into the next record. */
  private deferredConnections: Map<string, LoggedConnection> | undefined;
  private deferredWhole = false;
  /** Counts changes outside the world's store (members, sequence numbers): a host saves when it moved. */
  private changes = 0;
  /** Clock time of frame 0: frame n is due at tickOrigin + n x interval ("epoch" is only the fencing token). */
  private tickOrigin = 0;
  /** Ticks between two acks of a member that keeps sending: ackIntervalMs' worth. */
  private readonly ackEveryTicks: number;
  private timer: Cancel | undefined;
  private running = false;
  /**
   * The last frame the room's stream accounts for (a frame sent, or an `idle` heartbeat's `through`): the `prev`
   * of the next frame message, so members tell skipped empty frames from lost ones ([IDLE-1]).
   */
  private sentThrough = 0;
  /** Clock time of the last frame or heartbeat broadcast. */
  private lastSentAt = 0;
  /** Resting: no tick timer armed (nobody attached, nothing scheduled, nothing left to log: see `mayRest`). */
  private resting = false;
  /** The world's frame stayed behind the clock while resting: it catches up before the next step ([IDLE-4]). */
  private behind = false;
  /** Set while `journalStep` leaves changes for a later record (the log interval): the room may not rest. */
  private journalDeferred = false;
  private stepCount = 0;

  constructor(options: TickedRoomOptions) {
    this.options = options;
    this.key = options.key;
    this.ackEveryTicks = Math.max(
      1,
      Math.round((options.tickRate * (options.ackIntervalMs ?? defaultAckIntervalMs)) / 1000),
    );
    const restored = options.restored;
    this.world = new World(
      options.world,
      {
        tickRate: options.tickRate,
        bufferFrame: options.bufferFrame,
        seed: options.seed,
        frameZeroWallMs: options.frameZeroWallMs,
        ...(options.resumeFrame === undefined ? {} : { resumeFrame: options.resumeFrame }),
        // Server code, a grace timer or a join schedules work: a resting room ticks again.
        onSchedule: () => this.rouse(false),
      },
      restored?.world ?? options.snapshot,
    );
    if (restored !== undefined) {
      this.receiver.restore(restored.sequences);
      for (const m of restored.members) this.restoreMember(m);
    }
    if (options.log !== undefined) {
      this.journal = new RoomJournal(
        options.key,
        options.log,
        (connectionId, message) => options.output.send(options.key, connectionId, message),
        (error) => this.logFailed(error),
        options.events?.logged === undefined
          ? undefined
          : { clock: options.clock, logged: (ms) => options.events?.logged?.(this, ms) },
      );
      if (restored !== undefined) this.journal.restore(restored.sequences);
      this.world.trackLog();
      this.receiver.trackChanges();
    }
  }

  /**
   * Moves whenever the room's durable state does (world changes, sequence numbers, the departure of a member the
   * durable state holds): a host saves a snapshot only when it moved since the last one. A member joining does
   * not move it: a member that changes nothing needs no durability (after a crash it simply gets a new
   * connection and the full state), and one that changes something is written with that change.
   */
  get revision(): string {
    return `${this.world.store.version}:${this.changes}`;
  }

  /** The whole room at rest, for a durable snapshot (see TickedRoomSnapshot), without its frame history. */
  snapshotState(): TickedRoomSnapshot {
    // Everything in it is durable once saved (a failed save only makes a later departure logged needlessly).
    this.durableClients.clear();
    for (const m of this.members.values()) this.durableClients.add(m.clientId);
    this.ephemeralConnections.clear();
    return {
      format: 'p3.room/1',
      world: this.world.snapshot({ frames: false }),
      members: [...this.members.values()].map(memberRecord),
      sequences: this.receiver.exportAll(),
      wallMs: (this.options.wallClock ?? Date.now)(),
    };
  }

  /** Steps run so far (ticks: a resting room runs none). */
  get steps(): number {
    return this.stepCount;
  }

  /**
   * False while the room rests: nobody is attached and no work is scheduled, so it does not tick at all; it
   * starts again, at the frame its clock says, when a member joins or work is scheduled ([IDLE-4]).
   */
  get ticking(): boolean {
    return this.running && !this.resting;
  }

  /** Entities whose creation report is kept to suppress a repeat from a correction (bounded by the window). */
  get announcedCount(): number {
    return this.announced.size;
  }

  /** Room time in ms: frame N is simulated at time N x tick interval. Monotonic, never wall-clock. */
  get time(): number {
    return this.options.clock.now() - this.tickOrigin;
  }

  get memberCount(): number {
    return this.members.size;
  }

  get attachedCount(): number {
    let n = 0;
    for (const m of this.members.values()) if (m.attached) n++;
    return n;
  }

  getMembers(): MemberInfo[] {
    return [...this.members.values()].map(info);
  }

  getMember(connectionId: string): MemberInfo | undefined {
    const m = this.members.get(connectionId);
    return m ? info(m) : undefined;
  }

  // ------------------------------------------------------------------------------------------------------------
  // Tick loop

  start(): void {
    if (this.running) return;
    this.running = true;
    const interval = this.world.tickInterval;
    const base = this.options.clock.now() - this.world.frame * interval;
    const at = this.options.tickPhase;
    // The first tick comes at most one interval later than unphased, at the room's place in the interval.
    this.tickOrigin =
      at === undefined ? base : base + positiveModulo(at.origin + at.phase * interval - base, interval);
    this.sentThrough = this.world.frame;
    this.lastSentAt = this.options.clock.now();
    // Members restored from a previous run are detached until they come back.
    for (const m of this.members.values()) {
      if (!m.attached && m.graceTimer === undefined) this.armGrace(m);
    }
    this.schedule();
  }

  stop(): void {
    this.running = false;
    this.timer?.();
    this.timer = undefined;
    for (const m of this.members.values()) m.graceTimer?.();
  }

  private schedule(): void {
    if (!this.running) return;
    const due = this.tickOrigin + (this.world.frame + 1) * this.world.tickInterval;
    // Whole milliseconds: Node timers count from the event loop's cached time (whole ms, and stale by however long
    // the current callback has run), so a fractional delay fires early about half the time and costs a second timer.
    this.timer = this.options.scheduler.after(Math.ceil(due - this.options.clock.now()), () => this.run());
  }

  private run(): void {
    if (!this.running) return;
    const { clock } = this.options;
    const startedAt = clock.now();
    const time = startedAt - this.tickOrigin;
    // The timer fires at the due time, where floating point can put time / interval a hair below the next frame.
    const target = Math.floor(time / this.world.tickInterval + 1e-6);
    if (this.behind) {
      // The room rested: the frames since then were empty and nothing ran. Its frame is where the clock says.
      this.behind = false;
      this.catchUpClock(target - 1);
    }
    const lateMs = time - (this.world.frame + 1) * this.world.tickInterval;
    let steps = target - this.world.frame;
    if (steps > this.options.maxCatchUpTicks) {
      // Fell far behind (stall, debugger, overloaded host): run a few ticks and move the tick origin instead of spiralling.
      steps = this.options.maxCatchUpTicks;
      this.tickOrigin = startedAt - (this.world.frame + steps) * this.world.tickInterval;
    }
    for (let i = 0; i < steps; i++) this.step();
    // A timer may fire a little before the frame is due (see schedule): nothing ran, nothing to report.
    if (steps > 0) {
      // Work on the clock itself: a catch-up above moved the tick origin, which room time would count as work.
      this.options.events?.ticked?.(this, { lateMs: Math.max(0, lateMs), workMs: clock.now() - startedAt });
    }
    if (this.mayRest()) this.rest();
    else this.schedule();
  }

  /**
   * Stops ticking (see mayRest). The frames before now cannot be rewound any more: when the room ticks again they
   * lie as far in the past as the clock says (World.advanceTo), so no correction re-issues them, and the
   * creations reported for them need no memory.
   */
  private rest(): void {
    this.resting = true;
    this.behind = true;
    this.timer = undefined;
    this.world.advanceTo(this.world.frame);
    this.announced.clear();
  }

  /**
   * A room may stop ticking when no member is attached (nobody to send frames to), no work is scheduled (commands
   * ahead, a rewind) and nothing waits for the log (changes held for the log interval, a message waiting for a
   * record). Detached members' grace timers and server code schedule work, which rouses it ([IDLE-4]).
   */
  private mayRest(): boolean {
    if (this.journalDeferred || this.journal?.awaitingRecord === true) return false;
    if (this.world.nextWorkFrame !== undefined) return false;
    for (const m of this.members.values()) if (m.attached) return false;
    return true;
  }

  /**
   * Ticks again after resting. With `catchUp` the world moves to the clock's frame at once (a join's welcome names
   * the current frame); otherwise the next tick does it.
   */
  private rouse(catchUp: boolean): void {
    if (!this.running) return;
    if (catchUp && this.behind) {
      this.behind = false;
      const time = this.options.clock.now() - this.tickOrigin;
      this.catchUpClock(Math.floor(time / this.world.tickInterval + 1e-6));
    }
    if (!this.resting) return;
    this.resting = false;
    this.schedule();
  }

  /**
   * Moves the world to `frame` without running the frames a resting room skipped (they were empty: nothing was
   * attached, nothing scheduled), so frame ids stay a function of room time. Work scheduled meanwhile (server code,
   * a grace timer's removal, a join) applies at the frame after.
   */
  private catchUpClock(frame: number): void {
    this.world.advanceTo(frame);
  }

  /**
   * Runs one tick now and sends its frames (tests and hosts that drive ticks themselves). A tick that changed
   * nothing sends nothing, but at most one `idle` heartbeat per `idleHeartbeatMs` ([IDLE-1], [IDLE-2]).
   */
  step(): Frame {
    const result = this.world.step();
    this.stepCount++;
    const { events } = this.options;
    for (const corrected of result.corrections) this.broadcastFrame(corrected);
    const { frame } = result;
    if (frame.entities.length > 0 || frame.removed.length > 0 || frame.events.length > 0)
      this.broadcastFrame(frame);
    else this.heartbeat();
    this.journalStep();
    // Frames first: every member waits for them, while acks only trim a client's resend log.
    this.flushAcks(result.frame.id);
    for (const rejection of result.rejections) {
      if (rejection.origin === null || rejection.ref === undefined) continue;
      this.sendAcknowledging(rejection.origin, {
        type: 'reject',
        stamp: rejection.ref.stamp,
        seq: rejection.ref.seq,
        code: rejection.error.code,
        reason: rejection.error.message,
      });
    }
    for (const error of result.errors) events?.error?.(this, error);
    this.announceCreations(result.frame, result.corrections);
    events?.frame?.(this, result.frame, result.corrections);
    return result.frame;
  }

  /**
   * Sends a frame to every member. A frame after what the stream accounted for names it as `prev` (omitted when it
   * is the frame before): the frames in between were empty. A re-issued frame (a correction of a frame sent, or
   * covered by a heartbeat) goes without `prev`: members holding it rewind, others resync.
   */
  private broadcastFrame(frame: Frame): void {
    const prev = this.sentThrough;
    if (frame.id > prev) this.sentThrough = frame.id;
    this.lastSentAt = this.options.clock.now();
    this.options.output.broadcast(
      this.key,
      frame.id > prev + 1 ? { type: 'frame', frame, prev } : { type: 'frame', frame },
    );
  }

  /** Frames up to the current one were empty: said at most once per heartbeat interval ([IDLE-2]). */
  private heartbeat(): void {
    const through = this.world.frame;
    if (through <= this.sentThrough) return;
    const now = this.options.clock.now();
    if (now - this.lastSentAt < (this.options.idleHeartbeatMs ?? defaultIdleHeartbeatMs)) return;
    this.options.output.broadcast(this.key, { type: 'idle', prev: this.sentThrough, through });
    this.sentThrough = through;
    this.lastSentAt = now;
  }

  /**
   * Appends what changed since the last record to the room log, at most once per `logIntervalMs` (a record then
   * covers several steps, each entity once at its latest value), or at once when a message waits for it. Nothing
   * without a log, or when nothing durable changed: members that joined and did nothing else (and their world
   * connections) wait for the next record that holds a real change, and are dropped if they leave before it
   * (nothing acknowledged depends on them: see `revision`).
   */
  private journalStep(): void {
    const journal = this.journal;
    if (journal === undefined) return;
    const now = this.options.clock.now();
    const forced = journal.awaitingRecord;
    if (!forced && now - this.journaledAt < (this.options.logIntervalMs ?? 250)) {
      // Something may wait for the next record: a room does not rest before it is taken.
      this.journalDeferred = true;
      return;
    }
    this.journalDeferred = false;
    this.journaledAt = now;
    const world = this.world.takeLogRecord();
    const sequences = this.receiver.takeChanges();
    if (world?.connections !== undefined) this.deferConnections(world);
    const durable =
      forced ||
      sequences.length > 0 ||
      (world !== undefined && (world.entities.length > 0 || world.pending !== undefined)) ||
      this.departuresPending() ||
      this.durableConnectionsPending();
    if (!durable) return;
    const members = this.memberChanges.size > 0 ? [...this.memberChanges.values()] : undefined;
    this.memberChanges.clear();
    for (const m of members ?? []) {
      if ('gone' in m) this.durableClients.delete(m.clientId);
      else this.durableClients.add(m.clientId);
    }
    const connections = this.deferredConnections;
    const whole = this.deferredWhole;
    this.deferredConnections = undefined;
    this.deferredWhole = false;
    this.ephemeralConnections.clear();
    const base: WorldLogRecord = world ?? {
      frame: this.world.frame,
      horizon: this.world.store.horizon,
      entities: [],
    };
    const { connections: _taken, connectionsWhole: _whole, ...rest } = base;
    const record: TickedRoomLogRecord = {
      world: {
        ...rest,
        ...(connections === undefined ? {} : { connections: [...connections.values()] }),
        ...(whole ? { connectionsWhole: true as const } : {}),
      },
      ...(members === undefined ? {} : { members }),
      ...(sequences.length === 0
        ? {}
        : { sequences: sequences.map(([emitter, state]) => [emitter, state ?? null] as const) }),
      wallMs: (this.options.wallClock ?? Date.now)(),
    };
    journal.append(this.world.frame, record);
  }

  /**
   * Folds a step's world connection entries into those waiting for the next record (later entries of an id win,
   * a whole list replaces what waits). A member that joined and left without being written leaves no trace.
   */
  private deferConnections(world: WorldLogRecord): void {
    let waiting = this.deferredConnections;
    if (world.connectionsWhole === true || waiting === undefined) waiting = new Map();
    if (world.connectionsWhole === true) this.deferredWhole = true;
    for (const entry of world.connections ?? []) {
      const id = entry[0];
      if (entry.length === 1 && this.ephemeralConnections.has(id)) {
        waiting.delete(id);
        this.ephemeralConnections.delete(id);
        continue;
      }
      waiting.set(id, entry);
    }
    this.deferredConnections = waiting;
  }

  private departuresPending(): boolean {
    for (const m of this.memberChanges.values()) if ('gone' in m) return true;
    return false;
  }

  /** Connection entries that are not only of members still waiting to be written (a whole list always is). */
  private durableConnectionsPending(): boolean {
    if (this.deferredWhole) return true;
    for (const id of this.deferredConnections?.keys() ?? []) {
      if (!this.ephemeralConnections.has(id)) return true;
    }
    return false;
  }

  /**
   * Sends a message that acknowledges accepted state (the refusal of a consumed sequence number): with a log, once
   * that state is durable.
   */
  private sendAcknowledging(connectionId: string, message: ServerMessage): void {
    if (this.journal) this.journal.sendWhenDurable(connectionId, message);
    else this.options.output.send(this.key, connectionId, message);
  }

  private logFailed(error: unknown): void {
    this.stop();
    this.options.events?.logFailed?.(this, error);
  }

  private announceCreations(frame: Frame, corrections: readonly Frame[]): void {
    const created = this.options.events?.entityCreated;
    if (!created) return;
    for (const f of [...corrections, frame]) {
      for (const entity of f.entities) {
        if (!entity.created || typeof entity.owner !== 'string' || this.announced.has(entity.id)) continue;
        this.announced.set(entity.id, f.id);
        created(this, entity.owner, entity);
      }
    }
    // Corrections re-send frames inside the window only: a creation older than it cannot be reported again.
    // Insertion order is mostly frame order; a late creation inserted behind newer ones just waits for them.
    const horizon = frame.id - this.world.bufferFrame - 1;
    for (const [id, at] of this.announced) {
      if (at > horizon) break;
      this.announced.delete(id);
    }
  }

  // ------------------------------------------------------------------------------------------------------------
  // Members

  join(request: JoinRequest): JoinResult {
    const { clientId, sessionStamp } = request;
    // A resting room's world is behind its clock: the welcome names the frame the clock says.
    this.rouse(true);
    let member = this.members.get(this.byClient.get(clientId) ?? '');
    if (member && member.principal?.user !== request.principal?.user) {
      return {
        ok: false,
        error: new P3Error(ErrorCode.Forbidden, 'this client id belongs to another user'),
        closeCode: CloseCode.Forbidden,
      };
    }
    const resumed = member !== undefined;
    const { maxMembers } = this.options;
    if (!resumed && maxMembers !== undefined && this.members.size >= maxMembers) {
      return {
        ok: false,
        error: new P3Error(
          ErrorCode.RoomFull,
          `room ${unscopedRoomName(this.key.room)} is full (${maxMembers} members)`,
        ),
        closeCode: CloseCode.RoomFull,
      };
    }
    if (member) {
      if (member.attached) {
        // The gateway's close handler runs synchronously inside this call (uWS) and detaches the old socket's
        // attachment, arming a grace timer: it is cancelled below, after the close, whenever that ran.
        this.options.output.close(
          this.key,
          member.connectionId,
          CloseCode.Replaced,
          'replaced by a newer connection of the same client',
        );
      }
      member.graceTimer?.();
      member.graceTimer = undefined;
      member.attached = true;
      member.attachment++;
      member.stamp = sessionStamp;
    } else {
      let connectionId = randomId();
      while (this.members.has(connectionId)) connectionId = randomId();
      member = newMember(connectionId, clientId, request.principal, sessionStamp, true);
      this.members.set(connectionId, member);
      this.byClient.set(clientId, connectionId);
      this.world.connect(connectionId);
      this.memberChanged(member, false);
    }
    const delta =
      resumed && request.resumeFrame !== undefined && request.resumeFrame <= this.world.frame
        ? this.world.changesSince(request.resumeFrame)
        : undefined;
    const welcome: WelcomeMessage = {
      type: 'welcome',
      protocolVersion: PROTOCOL_VERSION,
      connectionId: member.connectionId,
      // The name the client asked for (the key holds the team's scope).
      room: unscopedRoomName(this.key.room),
      schema: this.world.schema.wire,
      tickRate: this.world.tickRate,
      bufferFrame: this.world.bufferFrame,
      frame: this.world.frame,
      serverTime: this.time,
      // An ack too: with a log, only what is durable (the client drops what it covers from its resend log).
      lastSeq: this.journal
        ? this.journal.lastSeq(clientId, sessionStamp)
        : this.receiver.lastSeq(clientId, sessionStamp),
      delta: delta?.complete === true,
      entities: delta?.complete ? delta.entities : this.world.fullState(),
      removed: delta?.complete ? delta.removed : [],
    };
    if (!resumed) this.options.events?.connection?.(this, info(member));
    const connectionId = member.connectionId;
    const attachment = member.attachment;
    return {
      ok: true,
      connectionId,
      welcome,
      session: {
        receive: (message) => this.receive(connectionId, message),
        leave: () => this.detach(connectionId, attachment),
      },
    };
  }

  /**
   * The member's socket closed: keep its session for the resume grace period, then remove it. With `attachment`
   * (a session's own `leave`), only when that attachment is still the member's current one: the close of a
   * socket replaced by a newer connection of the same client must not detach the newer one.
   */
  detach(connectionId: string, attachment?: number): void {
    const member = this.members.get(connectionId);
    if (!member || !member.attached) return;
    if (attachment !== undefined && attachment !== member.attachment) return;
    member.attached = false;
    this.armGrace(member);
  }

  private armGrace(member: Member): void {
    member.graceTimer = this.options.scheduler.after(this.options.resumeGraceMs, () =>
      this.remove(member.connectionId),
    );
  }

  private restoreMember(m: MemberRecord): void {
    const principal = m.user === undefined ? undefined : { user: m.user, team: m.team ?? '' };
    const member = newMember(m.connectionId, m.clientId, principal, 0, false);
    this.members.set(member.connectionId, member);
    this.byClient.set(member.clientId, member.connectionId);
    this.durableClients.add(member.clientId);
  }

  /**
   * A member joined or left. A join changes nothing durable by itself (see `revision` and `journalStep`); the
   * departure of a member the durable state holds does, and one it does not hold cancels its pending join.
   */
  private memberChanged(member: Member, gone: boolean): void {
    if (!gone) {
      if (this.journal === undefined) return;
      this.ephemeralConnections.add(member.connectionId);
      this.memberChanges.set(member.clientId, memberRecord(member));
      return;
    }
    if (!this.durableClients.has(member.clientId)) {
      this.memberChanges.delete(member.clientId);
      return;
    }
    this.changes++;
    if (this.journal !== undefined)
      this.memberChanges.set(member.clientId, { clientId: member.clientId, gone: true });
  }

  /** Removes a member at once: its connection leaves the world (connection-bound entities go). */
  remove(connectionId: string): void {
    const member = this.members.get(connectionId);
    if (!member) return;
    member.graceTimer?.();
    this.members.delete(connectionId);
    this.acksDue.delete(member);
    this.byClient.delete(member.clientId);
    this.memberChanged(member, true);
    // The receiver keeps this client's sequence state (bounded LRU): a late resend after the grace is still a duplicate.
    this.world.disconnect(connectionId);
    this.options.events?.disconnection?.(this, info(member));
  }

  receive(connectionId: string, message: ClientMessage): void {
    const member = this.members.get(connectionId);
    if (!member || !member.attached) return;
    const { output } = this.options;
    switch (message.type) {
      case 'ops':
        this.receiveOps(member, message);
        return;
      case 'cover':
        // The client fell idle: covered through `through` and for every frame until its next ops ([WORLD-8]).
        this.world.cover(connectionId, message.through, { idle: true });
        return;
      case 'frameAck':
        return;
      case 'ping':
        output.send(this.key, connectionId, {
          type: 'pong',
          id: message.id,
          clientTime: message.clientTime,
          serverTime: this.time,
          frame: this.world.frame,
        });
        return;
      case 'resync': {
        const delta = this.world.changesSince(message.frame);
        output.send(this.key, connectionId, {
          type: 'catchup',
          from: message.frame,
          to: this.world.frame,
          full: !delta.complete,
          entities: delta.entities,
          removed: delta.removed,
        });
        return;
      }
      case 'leave':
        this.remove(connectionId);
        output.close(this.key, connectionId, CloseCode.Normal, 'left');
        return;
      case 'join':
        output.send(this.key, connectionId, {
          type: 'error',
          code: ErrorCode.AlreadyJoined,
          reason: 'this connection already joined a room',
        });
        return;
    }
  }

  private receiveOps(member: Member, message: OpsMessage): void {
    const { events } = this.options;
    const { stamp, ops } = message;
    // Counted for the room's hosts (opsReceived): how often ops come too late for their frame.
    this.opsSubmitted = 0;
    this.opsLate = 0;
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      const seq = message.seq + i;
      let verdict = this.receiver.accept(member.clientId, stamp, seq, false);
      if (verdict === 'ahead') {
        const next = this.receiver.lastSeq(member.clientId, stamp) + 1;
        if ((member.held ??= new OutOfOrderOps()).hold(stamp, seq, next, op)) continue;
        verdict = this.receiver.accept(member.clientId, stamp, seq);
      }
      this.applyOp(member, stamp, seq, op, verdict);
      // This op may have filled the gap the held ones wait on: they follow it, in order.
      if (member.held !== undefined && member.held.size > 0) this.applyHeld(member, member.held, stamp);
    }
    if (this.opsSubmitted > 0) events?.opsReceived?.(this, this.opsSubmitted, this.opsLate);
    // Ops end an idle declaration; their `through` covers what they declare complete.
    if (message.through !== undefined) this.world.cover(member.connectionId, message.through);
    else this.world.active(member.connectionId);
    if (member.ackDue !== undefined && member.ackDue !== stamp) this.sendAck(member, member.ackDue);
    member.ackDue = stamp;
    this.acksDue.add(member);
    member.unacked += message.ops.length;
  }

  private applyHeld(member: Member, held: OutOfOrderOps<Op>, stamp: number): void {
    for (;;) {
      const seq = this.receiver.lastSeq(member.clientId, stamp) + 1;
      const op = held.take(stamp, seq);
      if (op === undefined) return;
      this.applyOp(member, stamp, seq, op, this.receiver.accept(member.clientId, stamp, seq));
    }
  }

  /** Applies one op the sequence receiver judged (counting into opsSubmitted and opsLate). */
  private applyOp(member: Member, stamp: number, seq: number, op: Op, verdict: SequenceVerdict): void {
    const { output, events } = this.options;
    if (verdict === 'duplicate') return;
    if (verdict === 'new') this.changes++;
    if (verdict !== 'new') {
      output.send(this.key, member.connectionId, {
        type: 'reject',
        stamp,
        seq,
        code: ErrorCode.SequenceOutOfWindow,
        reason:
          verdict === 'stale'
            ? 'sequence of an outdated session stamp'
            : 'sequence number too far ahead; resend the missing ones first',
      });
      return;
    }
    this.opsSubmitted++;
    const result = this.world.submit(member.connectionId, op, { stamp, seq });
    if (result.ok) {
      if (result.value <= this.world.frame) this.opsLate++;
      return;
    }
    // The sequence number is consumed: its refusal acknowledges it, like an ack.
    this.sendAcknowledging(member.connectionId, {
      type: 'reject',
      stamp,
      seq,
      code: result.error.code,
      reason: result.error.message,
    });
    if (result.error.code === ErrorCode.FrameDropped) {
      events?.frameDropped?.(this, {
        connectionId: member.connectionId,
        frame: op.frame ?? -1,
        current: this.world.frame,
        reason: result.error.message,
      });
    }
  }

  /**
   * Acks are cumulative and only let the client trim its resend log, so a member that keeps sending gets one per
   * ackIntervalMs (or once ACK_AFTER_OPS ops wait), acknowledging everything received meanwhile: a client sending 20
   * to 60 ops messages a second does not get as many acks back, each a write on its own socket. Rejections are not
   * delayed.
   */
  private flushAcks(frame: number): void {
    for (const member of this.acksDue) {
      if (member.ackDue === undefined) {
        this.acksDue.delete(member);
        continue;
      }
      if (frame - member.ackedAt < this.ackEveryTicks && member.unacked < ACK_AFTER_OPS) continue;
      // With a log, an ack covers only what is durable. A member that keeps sending always has ops in the next
      // record: it gets what is durable now (when that moved), and the rest stays due.
      if (this.journal !== undefined) {
        const durable = this.journal.lastSeq(member.clientId, member.ackDue);
        if (durable < this.receiver.lastSeq(member.clientId, member.ackDue)) {
          const moved = durable > (member.ackedStamp === member.ackDue ? member.ackedSeq : 0);
          if (member.attached && moved) this.sendAck(member, member.ackDue);
          continue;
        }
      }
      if (member.attached) this.sendAck(member, member.ackDue);
      else member.unacked = 0;
      member.ackDue = undefined;
      this.acksDue.delete(member);
    }
  }

  private sendAck(member: Member, stamp: number): void {
    const ack = this.journal
      ? this.journal.ack(member.clientId, stamp)
      : this.receiver.ack(member.clientId, stamp);
    if (!ack) return;
    // Ops held behind a gap are not received yet: the ranges before them are what the client must resend.
    const gaps = member.held?.missing(ack.stamp, this.receiver.lastSeq(member.clientId, ack.stamp)) ?? [];
    const missing = gaps.length > 0 ? [...ack.missing, ...gaps] : ack.missing;
    member.unacked = 0;
    member.ackedAt = this.world.frame;
    member.ackedStamp = ack.stamp;
    member.ackedSeq = ack.seq;
    this.options.output.send(this.key, member.connectionId, {
      type: 'ack',
      stamp: ack.stamp,
      seq: ack.seq,
      ...(missing.length > 0 ? { missing } : {}),
    });
  }
}

function positiveModulo(value: number, modulus: number): number {
  return ((value % modulus) + modulus) % modulus;
}

function newMember(
  connectionId: string,
  clientId: string,
  principal: Principal | undefined,
  stamp: number,
  attached: boolean,
): Member {
  return {
    connectionId,
    clientId,
    principal,
    stamp,
    attached,
    attachment: 0,
    graceTimer: undefined,
    ackDue: undefined,
    unacked: 0,
    // A member's first ack is not held back: only a member that keeps sending waits for its second.
    ackedAt: -Infinity,
    ackedStamp: 0,
    ackedSeq: 0,
    held: undefined,
  };
}

function memberRecord(m: Member): MemberRecord {
  return {
    clientId: m.clientId,
    connectionId: m.connectionId,
    ...(m.principal === undefined ? {} : { user: m.principal.user, team: m.principal.team }),
  };
}

function info(m: Member): MemberInfo {
  return { connectionId: m.connectionId, clientId: m.clientId, principal: m.principal, attached: m.attached };
}
