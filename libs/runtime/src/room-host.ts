import { CloseCode, ErrorCode, P3Error, PROTOCOL_VERSION, type ClientMessage } from '@p3/protocol';
import type { WorldDefinition, WorldSnapshot } from '@p3/engine';
import type { Logger } from 'pino';
import type { Clock } from './ports/clock.js';
import type { RoomOutput } from './ports/room-output.js';
import type { Cancel, Scheduler } from './ports/scheduler.js';
import type { RoomKey, SnapshotStore } from './ports/snapshot-store.js';
import { randomSeed } from './random-id.js';
import type { JoinRequest, JoinResult, RoomService } from './room-service.js';
import { TickedRoom, type RoomEvents } from './ticked-room.js';

export interface RoomHostOptions {
  /** The world every room runs (or one per room). */
  readonly world: WorldDefinition | ((key: RoomKey) => WorldDefinition);
  readonly tickRate: number;
  readonly bufferFrame: number;
  readonly clock: Clock;
  readonly scheduler: Scheduler;
  readonly store: SnapshotStore;
  readonly output: RoomOutput;
  readonly events?: RoomEvents;
  readonly logger?: Logger;
  /** Wall-clock source, used only for the timestamps inside ids the world creates. Default Date.now. */
  readonly wallClock?: () => number;
  /** A room with no members is closed (after a final snapshot) after this long. Default 30 s. */
  readonly idleTimeoutMs?: number;
  /** A member whose socket closed keeps its session this long. Default 10 s. */
  readonly resumeGraceMs?: number;
  /** Snapshot period for rooms that changed. Default 5 s. */
  readonly snapshotIntervalMs?: number;
  /** Frames of tombstones kept for deltas (older reconnects get a full state). Default 5 minutes of frames. */
  readonly tombstoneFrames?: number;
  readonly maxCatchUpTicks?: number;
  /** Refuses a new room when this many are hosted. Default unlimited. */
  readonly maxRooms?: number;
}

interface Hosted {
  readonly room: TickedRoom;
  /** The team owning the room: set by its first authenticated member, kept in its snapshots. */
  team: string | undefined;
  savedTeam: string | undefined;
  savedVersion: number;
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
  private readonly pinned = new Set<string>();
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

  room(key: RoomKey): TickedRoom | undefined {
    return this.hosted.get(keyOf(key))?.room;
  }

  rooms(): TickedRoom[] {
    return [...this.hosted.values()].map((h) => h.room);
  }

  /** Returns the room, creating it (from its snapshot) if needed. A pinned room is never closed for being idle. */
  async open(key: RoomKey, options: { pinned?: boolean } = {}): Promise<TickedRoom> {
    if (options.pinned) this.pinned.add(keyOf(key));
    return (await this.ensure(key)).room;
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
    const team = request.principal?.team;
    if (team !== undefined) {
      hosted.team ??= team;
      if (hosted.team !== team) {
        return {
          ok: false,
          error: new P3Error(ErrorCode.Forbidden, `room ${request.key.room} belongs to another team`),
          closeCode: CloseCode.Forbidden,
        };
      }
    }
    hosted.idleTimer?.();
    hosted.idleTimer = undefined;
    return hosted.room.join(request);
  }

  receive(key: RoomKey, connectionId: string, message: ClientMessage): void {
    this.hosted.get(keyOf(key))?.room.receive(connectionId, message);
  }

  leave(key: RoomKey, connectionId: string): void {
    const hosted = this.hosted.get(keyOf(key));
    if (!hosted) return;
    hosted.room.detach(connectionId);
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
  }

  private ensure(key: RoomKey): Promise<Hosted> {
    const id = keyOf(key);
    const existing = this.hosted.get(id);
    if (existing) return Promise.resolve(existing);
    let opening = this.opening.get(id);
    if (!opening) {
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
    if (options.maxRooms !== undefined && this.hosted.size >= options.maxRooms) {
      throw new P3Error(ErrorCode.QuotaExceeded, `this server hosts at most ${options.maxRooms} rooms`);
    }
    const stored = await options.store.load(key);
    const snapshot = stored?.kind === 'world' ? (stored.data as WorldSnapshot) : undefined;
    const world = typeof options.world === 'function' ? options.world(key) : options.world;
    const tickRate = snapshot?.tickRate ?? options.tickRate;
    const wallNow = (options.wallClock ?? Date.now)();
    const hosted: Hosted = {
      room: new TickedRoom({
        key,
        world,
        tickRate,
        bufferFrame: options.bufferFrame,
        clock: options.clock,
        scheduler: options.scheduler,
        output: options.output,
        events: this.wrapEvents(key),
        ...(snapshot === undefined ? {} : { snapshot }),
        seed: randomSeed(),
        epochMs: wallNow - ((snapshot?.frame ?? 0) * 1000) / tickRate,
        resumeGraceMs: options.resumeGraceMs ?? 10_000,
        maxCatchUpTicks: options.maxCatchUpTicks ?? 5,
        tickPhase: this.nextTickPhase(),
      }),
      team: stored?.team,
      savedTeam: stored?.team,
      savedVersion: snapshot?.frame ?? -1,
      saving: undefined,
      snapshotTimer: undefined,
      idleTimer: undefined,
    };
    this.hosted.set(keyOf(key), hosted);
    hosted.room.start();
    this.scheduleSnapshot(hosted, true);
    options.logger?.info(
      {
        room: key.room,
        tenant: key.tenant,
        restoredFrame: snapshot?.frame ?? null,
        protocol: PROTOCOL_VERSION,
      },
      'room opened',
    );
    return hosted;
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
    };
  }

  private scheduleIdle(hosted: Hosted): void {
    if (this.pinned.has(keyOf(hosted.room.key))) return;
    hosted.idleTimer?.();
    hosted.idleTimer = this.options.scheduler.after(this.options.idleTimeoutMs ?? 30_000, () => {
      if (hosted.room.memberCount === 0) void this.closeRoom(keyOf(hosted.room.key));
    });
  }

  /** The first period of a room is a random fraction of the interval, so rooms do not all snapshot on one beat. */
  private scheduleSnapshot(hosted: Hosted, first = false): void {
    const interval = this.options.snapshotIntervalMs ?? 5_000;
    const delay = first ? interval * (0.5 + Math.random() * 0.5) : interval;
    hosted.snapshotTimer = this.options.scheduler.after(delay, () => {
      void this.save(hosted).finally(() => {
        if (this.hosted.get(keyOf(hosted.room.key)) === hosted) this.scheduleSnapshot(hosted);
      });
    });
  }

  private save(hosted: Hosted): Promise<void> {
    if (hosted.saving) return hosted.saving;
    const world = hosted.room.world;
    const tombstoneFrames = this.options.tombstoneFrames ?? Math.ceil(world.tickRate * 300);
    if (world.frame > tombstoneFrames) world.pruneTombstones(world.frame - tombstoneFrames);
    if (world.store.version === hosted.savedVersion && hosted.team === hosted.savedTeam)
      return Promise.resolve();
    const version = world.store.version;
    const snapshot = {
      kind: 'world' as const,
      version: world.frame,
      epoch: 0,
      data: world.snapshot(),
      ...(hosted.team === undefined ? {} : { team: hosted.team }),
    };
    hosted.saving = this.options.store
      .save(hosted.room.key, snapshot)
      .then(() => {
        hosted.savedVersion = version;
        hosted.savedTeam = snapshot.team;
      })
      .catch((error: unknown) => {
        this.options.logger?.error(
          { err: error, room: hosted.room.key.room },
          'snapshot save failed; retrying at the next interval',
        );
      })
      .finally(() => {
        hosted.saving = undefined;
      });
    return hosted.saving;
  }

  /** Stops a room and saves it; a join arriving meanwhile waits and reopens it from that snapshot. */
  private closeRoom(id: string, draining = false): Promise<void> {
    const hosted = this.hosted.get(id);
    if (!hosted) return this.closing.get(id) ?? Promise.resolve();
    this.hosted.delete(id);
    const { room } = hosted;
    const closing = (async () => {
      room.stop();
      hosted.snapshotTimer?.();
      hosted.idleTimer?.();
      if (draining) {
        for (const member of room.getMembers()) {
          if (member.attached)
            this.options.output.close(
              room.key,
              member.connectionId,
              CloseCode.ServerDraining,
              'server is shutting down; reconnect',
            );
        }
      }
      await hosted.saving;
      await this.save(hosted);
      this.options.logger?.info({ room: room.key.room, frame: room.world.frame }, 'room closed');
    })();
    this.closing.set(id, closing);
    void closing.finally(() => this.closing.delete(id)).catch(() => undefined);
    return closing;
  }
}

function keyOf(key: RoomKey): string {
  return `${key.tenant}\u0000${key.room}`;
}
