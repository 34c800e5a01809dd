import { ErrorCode, fail, ok, type Result } from '@p3/protocol';
import { RoomManager, type Room } from '@p3/ecs-sync-server';
import type { Principal, RoomKey, RoomLog, SnapshotStore } from '@p3/runtime';
import type { Logger } from 'pino';
import { RoomLogChangeLog } from './room-log-change-log.js';
import { SnapshotSyncStorage } from './snapshot-sync-storage.js';

export interface DocumentRoomsOptions {
  readonly store: SnapshotStore;
  /**
   * The durable room log. With it an ack means durable: every change is logged before anything reflecting it
   * (ecs-sync ack, broadcast, `POST /changes` answer, SSE event) leaves, and a room recovers as its snapshot + the
   * log after it. Without it, changes since the last save (throttled) are lost in a crash.
   */
  readonly log?: RoomLog;
  readonly tenant: string;
  readonly logger: Logger;
  /** A room with no session and no subscriber is closed after this long. Default 30 s. */
  readonly idleTimeoutMs?: number;
  /** Saves of a changing room are at most this frequent. Default 1 s. */
  readonly saveThrottleMs?: number;
  readonly maxMessageBytes?: number;
  /** Versions a deleted key's tombstone is kept (deltas from before answer the full state). Default 100000. */
  readonly tombstoneRetention?: number;
}

/**
 * Document rooms (seed 002/003): ecs-sync `Room`s on the shared per-field-version model, loaded on demand from
 * the server's snapshot store and shared by `/ecs-sync` sockets and the HTTP API. A room belongs to the team of
 * the first authenticated caller; other teams are refused (FORBIDDEN).
 */
export class DocumentRooms {
  private readonly manager: RoomManager;
  private readonly storages = new Map<string, SnapshotSyncStorage>();

  constructor(private readonly options: DocumentRoomsOptions) {
    const keyOf = (roomId: string): RoomKey => ({ tenant: options.tenant, room: `doc/${roomId}` });
    const log = options.log;
    this.manager = new RoomManager({
      createStorage: (roomId) => {
        const storage = new SnapshotSyncStorage(options.store, keyOf(roomId));
        this.storages.set(roomId, storage);
        return storage;
      },
      ...(log === undefined
        ? {}
        : { createLog: (roomId: string) => new RoomLogChangeLog(log, keyOf(roomId)) }),
      idleTimeout: options.idleTimeoutMs ?? 30_000,
      roomOptions: {
        saveThrottleMs: options.saveThrottleMs ?? 1_000,
        ...(options.maxMessageBytes === undefined ? {} : { maxMessageBytes: options.maxMessageBytes }),
        ...(options.tombstoneRetention === undefined
          ? {}
          : { tombstoneRetention: options.tombstoneRetention }),
        onError: (error, context) => options.logger.error({ err: error, context }, 'document room error'),
      },
    });
  }

  /** The room, when the caller may use it. */
  async open(roomId: string, principal: Principal | undefined): Promise<Result<Room>> {
    let room: Room;
    try {
      room = await this.manager.getRoom(roomId);
    } catch (error) {
      this.options.logger.error({ err: error, room: roomId }, 'document room failed to load');
      return fail(ErrorCode.Internal, 'the room could not be loaded');
    }
    if (principal === undefined) return ok(room);
    const storage = this.storages.get(roomId);
    if (storage === undefined) return ok(room);
    if (storage.team === undefined) {
      storage.team = principal.team;
      // Record the owner at once, not at the next change: a restart must not hand the room to another team.
      await storage.save(room.getSnapshot());
    }
    if (storage.team !== principal.team)
      return fail(ErrorCode.Forbidden, `room ${roomId} belongs to another team`);
    return ok(room);
  }

  roomIds(): string[] {
    return this.manager.getRoomIds();
  }

  /** Closes every room (sockets get 4003) after saving. */
  close(): Promise<void> {
    return this.manager.closeAll();
  }
}
