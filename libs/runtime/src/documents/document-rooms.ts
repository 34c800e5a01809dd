import { ErrorCode, fail, ok, type Result } from '@p3/protocol';
import { RoomManager, type ChangeLog, type LoggedChange, type Room } from '@p3/ecs-sync-server';
import type { RoomLog } from '../ports/room-log.js';
import type { RoomKey, SnapshotStore } from '../ports/snapshot-store.js';
import type { Principal } from '../room-service.js';
import { legacyRoomOf, scopedRoomName } from '../team-scope.js';
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
  /**
   * Opening a room beyond this many open ones is refused (QUOTA_EXCEEDED): any id a request names opens a room.
   * Default 1000; `Infinity` for no limit.
   */
  readonly maxRooms?: number;
  /** The fencing token of a room's snapshots (the owner's lease epoch in the cluster). Default 0. */
  readonly epochOf?: (key: RoomKey) => number;
}

/**
 * Document rooms (seed 002/003): ecs-sync `Room`s on the shared per-field-version model, loaded on demand from
 * the server's snapshot store and shared by `/ecs-sync` sockets and the HTTP API. Room ids are scoped by team
 * (see scopedRoomName): an authenticated caller's room `notes` is its team's own (`doc/<team>/notes`), so teams
 * never see, block or overwrite each other's rooms.
 */
export class DocumentRooms {
  private readonly manager: RoomManager;
  /** The storage just made for a room, for the change log made right after it (RoomManager makes both in a row). */
  private lastStorage: { readonly id: string; readonly storage: SnapshotSyncStorage } | undefined;

  constructor(private readonly options: DocumentRoomsOptions) {
    const keyOf = (id: string): RoomKey => ({ tenant: options.tenant, room: `doc/${id}` });
    const legacyOf = (id: string) => {
      const legacy = legacyRoomOf({ tenant: options.tenant, room: id });
      return legacy === undefined ? undefined : { team: legacy.team, key: keyOf(legacy.key.room) };
    };
    const log = options.log;
    this.manager = new RoomManager({
      createStorage: (id) => {
        const storage = new SnapshotSyncStorage(options.store, keyOf(id), legacyOf(id), options.epochOf);
        this.lastStorage = { id, storage };
        return storage;
      },
      ...(log === undefined
        ? {}
        : {
            createLog: (id: string) => {
              const own = new RoomLogChangeLog(log, keyOf(id));
              const made = this.lastStorage;
              this.lastStorage = undefined;
              const legacy = legacyOf(id);
              if (made?.id !== id || legacy === undefined) return own;
              return continuedChangeLog(own, new RoomLogChangeLog(log, legacy.key), made.storage);
            },
          }),
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

  /** The caller's room `roomId` (its team's, when authenticated), loaded if needed. */
  async open(roomId: string, principal: Principal | undefined): Promise<Result<Room>> {
    const id = scopedRoomName(roomId, principal);
    const maxRooms = this.options.maxRooms ?? 1000;
    const open = this.manager.getRoomIds();
    if (open.length >= maxRooms && !open.includes(id)) {
      return fail(
        ErrorCode.QuotaExceeded,
        `this server keeps at most ${maxRooms} document rooms open; no new room can open now`,
      );
    }
    try {
      return ok(await this.manager.getRoom(id));
    } catch (error) {
      this.options.logger.error({ err: error, room: id }, 'document room failed to load');
      return fail(ErrorCode.Internal, 'the room could not be loaded');
    }
  }

  /** The room `id` (already team-scoped) if it is loaded, without loading it. */
  loaded(id: string): Room | undefined {
    return this.manager.getExistingRoom(id);
  }

  /** Saves and closes one room (its sockets get 4003 and reconnect); the next `open` loads it again. */
  closeRoom(id: string): Promise<void> {
    return this.manager.closeRoom(id);
  }

  /** Ids of the rooms open or loading (team-scoped: `<team>/<id>` for authenticated callers' rooms). */
  roomIds(): string[] {
    return this.manager.getRoomIds();
  }

  /** Closes every room (sockets get 4003) after saving. */
  close(): Promise<void> {
    return this.manager.closeAll();
  }
}

/**
 * The change log of a team's room that continues the room its team owned before rooms were scoped (see
 * SnapshotSyncStorage): when its storage loaded that room's snapshot, reads replay that room's log first, then
 * its own (written after it continued). Appends and truncation are its own.
 */
function continuedChangeLog(own: ChangeLog, legacy: ChangeLog, storage: SnapshotSyncStorage): ChangeLog {
  return {
    append: (change) => own.append(change),
    truncate: (through) => own.truncate(through),
    async read(after: number): Promise<LoggedChange[]> {
      const mine = await own.read(after);
      return storage.continuesLegacy ? [...(await legacy.read(after)), ...mine] : mine;
    },
  };
}
