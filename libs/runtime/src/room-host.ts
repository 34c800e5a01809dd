import { CloseCode, ErrorCode, P3Error, PROTOCOL_VERSION, type ClientMessage } from '@p3/protocol';
import type { WorldDefinition } from '@p3/engine';
import type { Logger } from 'pino';
import type { Clock } from './ports/clock.js';
import type { LogEntry, RoomLog } from './ports/room-log.js';
import type { RoomOutput } from './ports/room-output.js';
import type { Cancel, Scheduler } from './ports/scheduler.js';
import type { RoomKey, SnapshotStore, StoredSnapshot } from './ports/snapshot-store.js';
import { randomSeed } from './random-id.js';
import type { JoinRequest, JoinResult, RoomService } from './room-service.js';
import { legacyRoomOf } from './team-scope.js';
import { recoverTickedRoom, resumeFrame, tickedRoomSnapshotOf } from './ticked-room-state.js';
import { TickedRoom, type RoomEvents } from './ticked-room.js';

/** Default of RoomHostOptions.maxRooms. */
export const defaultMaxRooms = 1000;
/** Default of RoomHostOptions.maxMembersPerRoom. */
export const defaultMaxMembersPerRoom = 500;

export interface RoomHostOptions {
  /** The world every room runs (or one per room). */
  readonly world: WorldDefinition | ((key: RoomKey) => WorldDefinition);
  readonly tickRate: number;
  readonly bufferFrame: number;
  readonly clock: Clock;
  readonly scheduler: Scheduler;
  readonly store: SnapshotStore;
  /**
   * The room log (durability `log`): each step's changes are appended before anything they hold is acknowledged,
   * a room recovers as its latest snapshot plus the records after it, and each saved snapshot truncates the log.
   * Without it (durability `snapshot`) a crash loses what changed since the last snapshot.
   */
  readonly log?: RoomLog;
  /** With a log: at most one record per room per this many ms (see TickedRoomOptions.logIntervalMs). Default 250. */
  readonly logIntervalMs?: number;
  /** One ack per this many ms to a member that keeps sending (see TickedRoomOptions.ackIntervalMs). Default 250. */
  readonly ackIntervalMs?: number;
  /**
   * A room whose ticks change nothing sends no frames, but one `idle` heartbeat per this many ms (see
   * TickedRoomOptions.idleHeartbeatMs). Default 1000.
   */
  readonly idleHeartbeatMs?: number;
  readonly output: RoomOutput;
  readonly events?: RoomEvents;
  readonly logger?: Logger;
  /** Wall-clock source, used only for the timestamps inside ids the world creates. Default Date.now. */
  readonly wallClock?: () => number;
  /** A room with no members is closed (after a final snapshot) after this long. Default 30 s. */
  readonly idleTimeoutMs?: number;
  /** A member whose socket closed keeps its session this long. Default 10 s. */
  readonly resumeGraceMs?: number;
  /**
   * Snapshot period for rooms that changed. Default 30 s with a log (snapshots then only bound recovery time and the
   * log's size), 5 s without (what changed since the last snapshot is what a crash loses).
   */
  readonly snapshotIntervalMs?: number;
  /** Frames of tombstones kept for deltas (older reconnects get a full state). Default 5 minutes of frames. */
  readonly tombstoneFrames?: number;
  readonly maxCatchUpTicks?: number;
  /**
   * A join that would open a room beyond this many is refused (QUOTA_EXCEEDED, close 4105): any room name a
   * client sends opens a room, so the number is bounded. Default 1000; `Infinity` for no limit.
   */
  readonly maxRooms?: number;
  /**
   * A new member beyond this many in one room is refused (ROOM_FULL, close 4104); members within their resume
   * grace keep their seat. Default 500; `Infinity` for no limit.
   */
  readonly maxMembersPerRoom?: number;
  /**
   * After a failed snapshot save a room retries after this long, doubling per failure in a row, up to the
   * snapshot interval. Default 1 s.
   */
  readonly saveRetryMs?: number;
  /**
   * The fencing token a room's snapshots carry (the owner's lease epoch in the cluster). Default 0: one process
   * owns every room it hosts.
   */
  readonly epochOf?: (key: RoomKey) => number;
  /**
   * A room is gone from this host: closed for being idle or drained (after its final snapshot), stopped because
   * storage failed or a save answered `stale` (a newer owner saved: this one was deposed), or discarded. The cluster
   * releases the room's lease and its bus subscriptions here.
   */
  readonly onRoomClosed?: (key: RoomKey, why: RoomClosedReason) => void;
}

/** Why a room left a host (see RoomHostOptions.onRoomClosed). */
export type RoomClosedReason = 'idle' | 'drained' | 'failed' | 'deposed' | 'discarded';

/** What failed (see RoomHost.storageError): snapshot saves, or room log appends. */
export type StorageFailure = 'snapshot' | 'log';

interface Hosted {
  readonly room: TickedRoom;
  /** `room.revision` at the last snapshot saved (or loaded): a room that did not move is not saved again. */
  savedRevision: string;
  saving: Promise<void> | undefined;
  snapshotTimer: Cancel | undefined;
  idleTimer: Cancel | undefined;
}

/**
 * Hosts many ticked rooms in one process (the simulator role): a room is created on its first join (from its
 * latest snapshot), ticks on its own schedule, is snapshotted while it changes and closed when idle.
 */
export class RoomHost implements RoomService {
  private readonly options: RoomHostOptions;
  private readonly hosted = new Map<string, Hosted>();
  private readonly opening = new Map<string, Promise<Hosted>>();
  private readonly closing = new Map<string, Promise<void>>();
  /** Rooms never closed for being idle: added once opened (a room that fails to open leaves no entry). */
  private readonly pinned = new Set<string>();
  /** Storage failing now, with the latest error and how many failures in a row (see `healthy`). */
  private readonly storageProblems = new Map<StorageFailure, { error: unknown; failures: number }>();
  private closed = false;
  /** Clock time of the first room's start: every room's tick phase is placed relative to it. */
  private phaseOrigin: number | undefined;
  private roomsStarted = 0;

  constructor(options: RoomHostOptions) {
    this.options = options;
  }

  get roomCount(): number {
    return this.hosted.size;
  }

  /**
   * False while storage is failing: a snapshot save failed and none has succeeded since, or a room log append
   * failed and none has become durable since. A server wires it into readiness (`/readyz`).
   */
  get healthy(): boolean {
    return this.storageProblems.size === 0;
  }

  /** The latest storage error while not `healthy`, with what failed. */
  get storageError(): { readonly failing: StorageFailure; readonly error: unknown } | undefined {
    for (const [failing, problem] of this.storageProblems) return { failing, error: problem.error };
    return undefined;
  }

  /** Sizes of the host's own bookkeeping (tests check that they return to their baseline). */
  get sizes(): {
    readonly rooms: number;
    readonly opening: number;
    readonly closing: number;
    readonly pinned: number;
  } {
    return {
      rooms: this.hosted.size,
      opening: this.opening.size,
      closing: this.closing.size,
      pinned: this.pinned.size,
    };
  }

  room(key: RoomKey): TickedRoom | undefined {
    return this.hosted.get(keyOf(key))?.room;
  }

  rooms(): TickedRoom[] {
    return [...this.hosted.values()].map((h) => h.room);
  }

  /**
   * Returns the room, creating it (from its snapshot) if needed. A pinned room is never closed for being idle;
   * one that is not is closed after the idle timeout unless someone joins it.
   */
  async open(key: RoomKey, options: { pinned?: boolean } = {}): Promise<TickedRoom> {
    const hosted = await this.ensure(key);
    if (options.pinned) {
      this.pinned.add(keyOf(key));
      hosted.idleTimer?.();
      hosted.idleTimer = undefined;
    }
    return hosted.room;
  }

  async join(request: JoinRequest): Promise<JoinResult> {
    if (this.closed)
      return {
        ok: false,
        error: new P3Error(ErrorCode.Internal, 'server is shutting down'),
        closeCode: CloseCode.ServerDraining,
      };
    let hosted: Hosted;
    try {
      hosted = await this.ensure(request.key);
    } catch (error) {
      if (error instanceof P3Error)
        return {
          ok: false,
          error,
          closeCode: error.code === ErrorCode.QuotaExceeded ? CloseCode.QuotaExceeded : CloseCode.Internal,
        };
      this.options.logger?.error({ err: error, room: request.key.room }, 'room failed to open');
      return {
        ok: false,
        error: new P3Error(ErrorCode.Internal, 'room failed to open'),
        closeCode: CloseCode.Internal,
      };
    }
    const result = hosted.room.join(request);
    if (result.ok) {
      hosted.idleTimer?.();
      hosted.idleTimer = undefined;
    } else if (hosted.room.memberCount === 0 && hosted.idleTimer === undefined) {
      // A refused join leaves nobody in the room: it closes like any idle room.
      this.scheduleIdle(hosted);
    }
    return result;
  }

  receive(key: RoomKey, connectionId: string, message: ClientMessage): void {
    this.hosted.get(keyOf(key))?.room.receive(connectionId, message);
  }

  leave(key: RoomKey, connectionId: string): void {
    const hosted = this.hosted.get(keyOf(key));
    if (!hosted) return;
    hosted.room.detach(connectionId);
  }

  /**
   * Stops a room at once without a snapshot and without a word to its members: its owner lost the lease, so whatever
   * it would publish or save could overlap a successor. The successor recovers it from snapshot + log.
   */
  discard(key: RoomKey): void {
    const id = keyOf(key);
    const hosted = this.hosted.get(id);
    if (!hosted) return;
    this.hosted.delete(id);
    this.stopRoom(hosted);
    this.options.onRoomClosed?.(key, 'discarded');
  }

  /** Hands a room off: its members are told to reconnect (ServerDraining), a final snapshot is saved, it stops. */
  handOff(key: RoomKey): Promise<void> {
    return this.closeRoom(keyOf(key), true);
  }

  /** Saves every room now (e.g. before a deploy) without closing them. */
  async flush(): Promise<void> {
    await Promise.all([...this.hosted.values()].map((h) => this.save(h)));
  }

  /** Stops every room after a final snapshot. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.opening.values()]);
    await Promise.all([...this.hosted.keys()].map((k) => this.closeRoom(k, true)));
    this.pinned.clear();
  }

  private ensure(key: RoomKey): Promise<Hosted> {
    const id = keyOf(key);
    const existing = this.hosted.get(id);
    if (existing) return Promise.resolve(existing);
    let opening = this.opening.get(id);
    if (!opening) {
      // Counted with the rooms being opened: concurrent first joins of many names cannot overshoot the limit.
      const maxRooms = this.options.maxRooms ?? defaultMaxRooms;
      if (this.hosted.size + this.opening.size >= maxRooms) {
        return Promise.reject(
          new P3Error(
            ErrorCode.QuotaExceeded,
            `this server hosts at most ${maxRooms} rooms; no new room can open now`,
          ),
        );
      }
      opening = (this.closing.get(id) ?? Promise.resolve()).then(() => this.create(key));
      this.opening.set(id, opening);
      void opening.finally(() => this.opening.delete(id)).catch(() => undefined);
    }
    return opening;
  }

  /**
   * Rooms tick at spread-out points of the interval (a golden-ratio sequence: evenly spread for any number of
   * rooms), so a host's ticks and the frames they fan out come as a steady stream rather than one burst per tick.
   */
  private nextTickPhase(): { origin: number; phase: number } {
    this.phaseOrigin ??= this.options.clock.now();
    const phase = (this.roomsStarted++ * 0.6180339887498949) % 1;
    return { origin: this.phaseOrigin, phase };
  }

  private async create(key: RoomKey): Promise<Hosted> {
    const { options } = this;
    const { stored, records } = await this.load(key);
    const base = tickedRoomSnapshotOf(stored);
    const world = typeof options.world === 'function' ? options.world(key) : options.world;
    const tickRate = base?.world.tickRate ?? options.tickRate;
    const wallNow = (options.wallClock ?? Date.now)();
    // A room that ran before continues after every frame id it may have issued (see resumeFrame).
    const restored =
      base === null && records.length === 0 ? undefined : recoverTickedRoom(stored, records, tickRate);
    const startFrame = restored === undefined ? 0 : resumeFrame(restored, wallNow, tickRate);
    const room = new TickedRoom({
      key,
      world,
      tickRate,
      bufferFrame: options.bufferFrame,
      clock: options.clock,
      scheduler: options.scheduler,
      output: options.output,
      events: this.wrapEvents(key),
      ...(restored === undefined ? {} : { restored, resumeFrame: startFrame }),
      ...(options.log === undefined ? {} : { log: options.log }),
      ...(options.logIntervalMs === undefined ? {} : { logIntervalMs: options.logIntervalMs }),
      ...(options.ackIntervalMs === undefined ? {} : { ackIntervalMs: options.ackIntervalMs }),
      ...(options.idleHeartbeatMs === undefined ? {} : { idleHeartbeatMs: options.idleHeartbeatMs }),
      ...(options.wallClock === undefined ? {} : { wallClock: options.wallClock }),
      seed: randomSeed(),
      frameZeroWallMs: wallNow - (startFrame * 1000) / tickRate,
      resumeGraceMs: options.resumeGraceMs ?? 10_000,
      maxCatchUpTicks: options.maxCatchUpTicks ?? 5,
      ...(Number.isFinite(options.maxMembersPerRoom ?? defaultMaxMembersPerRoom)
        ? { maxMembers: options.maxMembersPerRoom ?? defaultMaxMembersPerRoom }
        : {}),
      tickPhase: this.nextTickPhase(),
    });
    const hosted: Hosted = {
      room,
      // A room replayed from its log has state its snapshot lacks: it saves at its first interval.
      savedRevision: records.length === 0 ? room.revision : '',
      saving: undefined,
      snapshotTimer: undefined,
      idleTimer: undefined,
    };
    this.hosted.set(keyOf(key), hosted);
    room.start();
    this.scheduleSnapshot(hosted, true);
    // Nobody is in it yet: whatever opened it (a join, refused or not, or `open`), it closes if nobody stays.
    this.scheduleIdle(hosted);
    options.logger?.info(
      {
        room: key.room,
        tenant: key.tenant,
        restoredFrame: base?.world.frame ?? null,
        logRecords: records.length,
        recoveredFrame: restored?.world.frame ?? null,
        frame: room.world.frame,
        protocol: PROTOCOL_VERSION,
      },
      'room opened',
    );
    return hosted;
  }

  /**
   * A room's snapshot and the log records after it. A team's room (`<team>/<name>`, see team-scope) with no
   * snapshot of its own continues the room its team owned under the bare name before rooms were scoped by team:
   * that snapshot and its log, then the scoped room's own records (written after it continued from them).
   */
  private async load(key: RoomKey): Promise<{ stored: StoredSnapshot | null; records: LogEntry[] }> {
    const { store, log, tickRate } = this.options;
    const stored = await store.load(key);
    const read = (k: RoomKey, s: StoredSnapshot | null) =>
      log ? log.read(k, tickedRoomSnapshotOf(s)?.world.frame ?? 0) : Promise.resolve([]);
    const records = await read(key, stored);
    const legacy = stored === null ? legacyRoomOf(key) : undefined;
    if (legacy === undefined) return { stored, records };
    const old = await store.load(legacy.key);
    const oldRecords = await read(legacy.key, old);
    if (old === null && oldRecords.length === 0) return { stored, records };
    if (recoverTickedRoom(old, oldRecords, tickRate).team !== legacy.team) return { stored, records };
    return { stored: old, records: [...oldRecords, ...records] };
  }

  /** Lets the host see disconnections (idle tracking) while forwarding every event to the listener. */
  private wrapEvents(key: RoomKey): RoomEvents {
    const events = this.options.events ?? {};
    return {
      ...events,
      disconnection: (room, member) => {
        events.disconnection?.(room, member);
        const hosted = this.hosted.get(keyOf(key));
        if (hosted && room.memberCount === 0) this.scheduleIdle(hosted);
      },
      error: (room, error) => {
        this.options.logger?.error({ err: error, room: key.room }, 'world logic threw during a tick');
        events.error?.(room, error);
      },
      logFailed: (room, error) => {
        this.storageFailed(
          'log',
          error,
          key,
          'room log appends are failing: rooms stop without a snapshot and reload from storage on their next join',
        );
        this.failRoom(keyOf(key));
        events.logFailed?.(room, error);
      },
      logged: (room, latencyMs) => {
        if (this.storageProblems.size > 0) this.storageRecovered('log');
        events.logged?.(room, latencyMs);
      },
    };
  }

  /**
   * Storage failed: reported once per run of failures (the first, with its reason; readiness turns false), not
   * once per room and retry; `storageRecovered` ends the run.
   */
  private storageFailed(failing: StorageFailure, error: unknown, key: RoomKey, message: string): void {
    const problem = this.storageProblems.get(failing);
    if (problem !== undefined) {
      problem.error = error;
      problem.failures++;
      return;
    }
    this.storageProblems.set(failing, { error, failures: 1 });
    this.options.logger?.error({ err: error, room: key.room, tenant: key.tenant }, message);
  }

  private storageRecovered(failing: StorageFailure): void {
    const problem = this.storageProblems.get(failing);
    if (problem === undefined) return;
    this.storageProblems.delete(failing);
    this.options.logger?.info(
      { failures: problem.failures },
      failing === 'snapshot' ? 'snapshot saves succeed again' : 'room log appends succeed again',
    );
  }

  private scheduleIdle(hosted: Hosted): void {
    if (this.pinned.has(keyOf(hosted.room.key))) return;
    hosted.idleTimer?.();
    hosted.idleTimer = this.options.scheduler.after(this.options.idleTimeoutMs ?? 30_000, () => {
      hosted.idleTimer = undefined;
      if (hosted.room.memberCount === 0) void this.closeRoom(keyOf(hosted.room.key));
    });
  }

  /**
   * The first period of a room is a random fraction of the interval, so rooms do not all snapshot on one beat.
   * While saves fail, a room retries sooner: after `saveRetryMs`, doubling per failure in a row, up to the interval.
   */
  private scheduleSnapshot(hosted: Hosted, first = false): void {
    const interval = this.options.snapshotIntervalMs ?? (this.options.log ? 30_000 : 5_000);
    const failures = this.storageProblems.get('snapshot')?.failures;
    const retry =
      failures === undefined
        ? interval
        : Math.min(interval, (this.options.saveRetryMs ?? 1000) * 2 ** Math.min(failures - 1, 20));
    const delay = first ? interval * (0.5 + Math.random() * 0.5) : retry;
    hosted.snapshotTimer = this.options.scheduler.after(delay, () => {
      void this.save(hosted).finally(() => {
        if (this.hosted.get(keyOf(hosted.room.key)) === hosted) this.scheduleSnapshot(hosted);
      });
    });
  }

  private save(hosted: Hosted): Promise<void> {
    if (hosted.saving) return hosted.saving;
    const { room } = hosted;
    const world = room.world;
    const tombstoneFrames = this.options.tombstoneFrames ?? Math.ceil(world.tickRate * 300);
    if (world.frame > tombstoneFrames) world.pruneTombstones(world.frame - tombstoneFrames);
    const revision = room.revision;
    if (revision === hosted.savedRevision) return Promise.resolve();
    const state = room.snapshotState();
    // The team is the key's scope now (see team-scope): snapshots no longer record an owner.
    const epoch = this.options.epochOf?.(room.key) ?? 0;
    const snapshot = { kind: 'world' as const, version: state.world.frame, epoch, data: state };
    const { log } = this.options;
    hosted.saving = this.options.store
      .save(room.key, snapshot)
      .then(async (outcome) => {
        if (outcome === 'stale') {
          // A newer owner (higher epoch) saved this room: this one was deposed and must stop now.
          this.options.logger?.warn({ room: room.key.room, epoch }, 'snapshot save is stale: room deposed');
          this.failRoom(keyOf(room.key), 'deposed');
          return;
        }
        // The snapshot holds every record up to its frame: the log can forget them.
        if (log) await log.truncate(room.key, snapshot.version);
        hosted.savedRevision = revision;
        this.storageRecovered('snapshot');
      })
      .catch((error: unknown) => {
        this.storageFailed(
          'snapshot',
          error,
          room.key,
          'snapshot saves are failing: retrying with backoff; not ready until one succeeds',
        );
      })
      .finally(() => {
        hosted.saving = undefined;
      });
    return hosted.saving;
  }

  /** A room whose log failed: stopped at once, members told to reconnect, no snapshot (what it held is not durable). */
  private failRoom(id: string, why: 'failed' | 'deposed' = 'failed'): void {
    const hosted = this.hosted.get(id);
    if (!hosted) return;
    this.hosted.delete(id);
    this.stopRoom(
      hosted,
      why === 'failed' ? { code: CloseCode.Internal, reason: 'room storage failed; reconnect' } : undefined,
    );
    this.options.onRoomClosed?.(hosted.room.key, why);
  }

  /** Stops a room's ticks and timers; closes its attached members with `close` when given. */
  private stopRoom(hosted: Hosted, close?: { code: number; reason: string }): void {
    const { room } = hosted;
    room.stop();
    hosted.snapshotTimer?.();
    hosted.idleTimer?.();
    if (close === undefined) return;
    for (const member of room.getMembers()) {
      if (member.attached) this.options.output.close(room.key, member.connectionId, close.code, close.reason);
    }
  }

  /** Stops a room and saves it; a join arriving meanwhile waits and reopens it from that snapshot. */
  private closeRoom(id: string, draining = false): Promise<void> {
    const hosted = this.hosted.get(id);
    if (!hosted) return this.closing.get(id) ?? Promise.resolve();
    this.hosted.delete(id);
    const { room } = hosted;
    const closing = (async () => {
      this.stopRoom(
        hosted,
        draining
          ? { code: CloseCode.ServerDraining, reason: 'server is shutting down; reconnect' }
          : undefined,
      );
      await hosted.saving;
      await this.save(hosted);
      this.options.logger?.info({ room: room.key.room, frame: room.world.frame }, 'room closed');
      this.options.onRoomClosed?.(room.key, draining ? 'drained' : 'idle');
    })();
    this.closing.set(id, closing);
    void closing.finally(() => this.closing.delete(id)).catch(() => undefined);
    return closing;
  }
}

function keyOf(key: RoomKey): string {
  return `${key.tenant}\u0000${key.room}`;
}
