import { Room, type RoomOptions } from './Room.js';
import type { ChangeLog } from './storage/ChangeLog.js';
import { isClosableStorage, type SyncStorage } from './storage/SyncStorage.js';

export interface RoomManagerOptions {
  /** Storage of one room; called each time a room is (re)loaded. Storages with `close()` are closed with their room. */
  createStorage: (roomId: string) => SyncStorage;
  /** The change log of one room (optional; an ack then means durable, see `RoomOptions.log`). Called at each (re)load. */
  createLog?: (roomId: string) => ChangeLog;
  /** A room without sessions for this long (ms) is saved, closed and dropped. Default 30000. */
  idleTimeout?: number;
  /** Options of every room (storage, log and initial snapshot come from the manager). */
  roomOptions?: Omit<RoomOptions, 'storage' | 'log' | 'initialSnapshot'>;
}

interface EntryState {
  readonly roomId: string;
  loaded?: Room;
  storage?: SyncStorage;
  timer?: ReturnType<typeof setTimeout>;
  /** Set while an idle room is being saved and closed; resolves true when it was dropped. */
  closing?: Promise<boolean>;
}

interface Entry extends EntryState {
  readonly room: Promise<Room>;
}

/**
 * Rooms by id, loaded on demand and dropped when idle.
 *
 * - `getRoom(id)` loads a room once; concurrent calls for one id share the load.
 * - A room with no session for `idleTimeout` is flushed, closed and forgotten; the next `getRoom` loads it again
 *   from storage (after that close finished, so it reads the final save). When the final save fails the room
 *   stays open and is tried again after the next idle period: nothing unsaved is dropped.
 * - A room whose change log failed ([LOG-4]) closed itself: it is forgotten once its close finished, and the next
 *   `getRoom` loads it again from storage + log (a crash-restart of that room alone).
 *
 * @example
 * const manager = new RoomManager({ createStorage: (roomId) => new FileStorage({ dir: './data', roomId }) });
 * const room = await manager.getRoom('my-room');
 * room.handleSocketConnect({ sessionId, socket, clientId });
 */
export class RoomManager {
  private readonly entries = new Map<string, Entry>();
  private readonly createStorage: (roomId: string) => SyncStorage;
  private readonly createLog: ((roomId: string) => ChangeLog) | undefined;
  private readonly idleTimeout: number;
  private readonly roomOptions: Omit<RoomOptions, 'storage' | 'log' | 'initialSnapshot'>;

  constructor(options: RoomManagerOptions) {
    this.createStorage = options.createStorage;
    this.createLog = options.createLog;
    this.idleTimeout = options.idleTimeout ?? 30_000;
    if (!Number.isFinite(this.idleTimeout) || this.idleTimeout < 0)
      throw new RangeError('idleTimeout must be a number >= 0');
    this.roomOptions = options.roomOptions ?? {};
  }

  /** The room of this id, loading it from storage when it is not open. Rejects when the load fails (a later call retries). */
  async getRoom(roomId: string): Promise<Room> {
    for (;;) {
      const entry = this.entries.get(roomId) ?? this.open(roomId);
      if (entry.closing !== undefined) {
        await entry.closing;
        continue;
      }
      const room = await entry.room;
      if (entry.closing !== undefined || this.entries.get(roomId) !== entry) continue;
      if (room.isClosed()) {
        this.retire(entry, room);
        continue;
      }
      // A caller is about to connect: give it a full idle period to do so.
      this.armIdleTimer(entry);
      return room;
    }
  }

  /**
   * The room of this id when it is loaded and open, else undefined; never loads one (upstream parity: check
   * whether a room is live without opening it, e.g. to route a message or to list presence).
   */
  getExistingRoom(roomId: string): Room | undefined {
    const entry = this.entries.get(roomId);
    const room = entry?.loaded;
    if (room === undefined || entry?.closing !== undefined || room.isClosed()) return undefined;
    return room;
  }

  /**
   * Closes the room of this id (upstream parity): its sockets are closed with 4003 (clients reconnect), what is
   * unsaved is saved (a failed final save is reported to `onError`), its storage is closed, and it is forgotten.
   * Resolves once all that is done; a later `getRoom` loads it again from storage (calls made meanwhile wait for
   * the close). A no-op for an id that is not open.
   */
  async closeRoom(roomId: string): Promise<void> {
    for (;;) {
      const entry = this.entries.get(roomId);
      if (entry === undefined) return;
      if (entry.closing !== undefined) {
        // An idle close or a retirement is running: wait for it (an idle close may keep the room open).
        await entry.closing;
        continue;
      }
      // A loaded room is retired at once (a getRoom racing this call then waits for the close); a loading one first.
      const room = entry.loaded ?? (await entry.room.catch(() => undefined));
      // A failed load forgets its entry by itself.
      if (room === undefined) return;
      if (this.entries.get(roomId) !== entry || entry.closing !== undefined) continue;
      this.retire(entry, room);
      await entry.closing;
      return;
    }
  }

  /** Ids of the rooms open or loading. */
  getRoomIds(): string[] {
    return [...this.entries.keys()];
  }

  /** Closes every room (each saves what is unsaved) and forgets them. */
  async closeAll(): Promise<void> {
    const entries = [...this.entries.values()];
    this.entries.clear();
    await Promise.all(
      entries.map(async (entry) => {
        if (entry.timer !== undefined) clearTimeout(entry.timer);
        await entry.closing;
        const room = await entry.room.catch(() => undefined);
        await room?.close();
        await this.closeStorage(entry);
      }),
    );
  }

  private open(roomId: string): Entry {
    const state: EntryState = { roomId };
    const entry: Entry = Object.assign(state, { room: this.load(state) });
    entry.room.catch(async () => {
      if (this.entries.get(roomId) === entry) this.entries.delete(roomId);
      await this.closeStorage(entry);
    });
    this.entries.set(roomId, entry);
    return entry;
  }

  private async load(entry: EntryState): Promise<Room> {
    const userRemoved = this.roomOptions.onSessionRemoved;
    const storage = this.createStorage(entry.roomId);
    entry.storage = storage;
    const userReleased = this.roomOptions.onReleased;
    const userFailed = this.roomOptions.onFailed;
    const log = this.createLog?.(entry.roomId);
    const room: Room = new Room({
      ...this.roomOptions,
      storage,
      ...(log === undefined ? {} : { log }),
      onSessionRemoved: (r, info) => {
        userRemoved?.(r, info);
        if (info.remaining === 0) this.armIdleTimer(entry);
      },
      onReleased: (r) => {
        userReleased?.(r);
        this.armIdleTimer(entry);
      },
      onFailed: (r, error) => {
        userFailed?.(r, error);
        this.retire(entry, r);
      },
    });
    await room.load();
    entry.loaded = room;
    return room;
  }

  private armIdleTimer(entry: EntryState): void {
    if (entry.timer !== undefined) clearTimeout(entry.timer);
    entry.timer = undefined;
    if (entry.loaded === undefined || inUse(entry.loaded) || this.entries.get(entry.roomId) !== entry) return;
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      this.closeIdle(entry);
    }, this.idleTimeout);
    entry.timer.unref?.();
  }

  private closeIdle(entry: EntryState): void {
    const room = entry.loaded;
    if (
      room === undefined ||
      entry.closing !== undefined ||
      inUse(room) ||
      this.entries.get(entry.roomId) !== entry
    )
      return;
    entry.closing = (async () => {
      try {
        await room.flush();
      } catch {
        // Already reported by the room. Keep it open; the next idle period tries again.
        entry.closing = undefined;
        this.armIdleTimer(entry);
        return false;
      }
      if (room.getSessionCount() > 0) {
        entry.closing = undefined;
        return false;
      }
      await room.close();
      if (this.entries.get(entry.roomId) === entry) this.entries.delete(entry.roomId);
      await this.closeStorage(entry);
      return true;
    })();
  }

  /** Forgets a room that closed itself (its log failed) once its close finished; the next getRoom reloads it. */
  private retire(entry: EntryState, room: Room): void {
    if (entry.timer !== undefined) clearTimeout(entry.timer);
    entry.timer = undefined;
    if (entry.closing !== undefined) return;
    entry.closing = (async () => {
      await room.close();
      if (this.entries.get(entry.roomId) === entry) this.entries.delete(entry.roomId);
      await this.closeStorage(entry);
      return true;
    })();
  }

  private async closeStorage(entry: EntryState): Promise<void> {
    const storage = entry.storage;
    entry.storage = undefined;
    if (storage === undefined || !isClosableStorage(storage)) return;
    await storage.close().catch((error: unknown) => {
      const onError =
        this.roomOptions.onError ??
        ((e: unknown, context: string) => console.error(`[ecs-sync-server] ${context}:`, e));
      onError(error, `close storage of room ${entry.roomId}`);
    });
  }
}

/** A room with sessions or subscribers is in use: never closed for being idle. */
function inUse(room: Room): boolean {
  return room.getSessionCount() > 0 || room.getSubscriberCount() > 0;
}
