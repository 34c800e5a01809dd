import type { JsonValue } from '@p3/protocol';
import type { LogEntry, RoomLog } from '../ports/room-log.js';
import type { RoomKey } from '../ports/snapshot-store.js';
import { checkLogVersion, dropThrough, firstAbove, roomMapKey, upsertByVersion } from './room-log-entries.js';

/**
 * A room log in process memory (tests, transient rooms): "durable" means "held by this process", so it keeps the
 * port's ordering and isolation promises but nothing survives a restart. Records are stored and returned as deep
 * copies, so neither the appender nor a reader can alter what the log holds.
 *
 * @example
 * const log = new MemoryRoomLog();
 * await log.append({ tenant: 'default', room: 'lobby' }, 1, { moved: [3, 4] });
 * await log.read({ tenant: 'default', room: 'lobby' }, 0); // [{ version: 1, data: { moved: [3, 4] } }]
 */
export class MemoryRoomLog implements RoomLog {
  /** Per room, its records sorted by version. */
  private readonly rooms = new Map<string, LogEntry[]>();
  private closed = false;

  /** Resolves on a microtask, like a real log would resolve later: callers must not rely on synchronous acks. */
  async append(key: RoomKey, version: number, data: JsonValue): Promise<void> {
    this.checkOpen();
    checkLogVersion(version, 'version');
    const entries = this.rooms.get(roomMapKey(key)) ?? [];
    upsertByVersion(entries, { version, data: structuredClone(data) });
    this.rooms.set(roomMapKey(key), entries);
  }

  async read(key: RoomKey, after: number): Promise<LogEntry[]> {
    checkLogVersion(after, 'after');
    const entries = this.rooms.get(roomMapKey(key)) ?? [];
    return entries
      .slice(firstAbove(entries, after))
      .map((entry) => ({ version: entry.version, data: structuredClone(entry.data) }));
  }

  async truncate(key: RoomKey, through: number): Promise<void> {
    this.checkOpen();
    checkLogVersion(through, 'through');
    const entries = this.rooms.get(roomMapKey(key));
    if (entries === undefined) return;
    dropThrough(entries, through);
    // Rooms come and go: forget the ones with nothing left, so the map does not grow forever.
    if (entries.length === 0) this.rooms.delete(roomMapKey(key));
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private checkOpen(): void {
    if (this.closed) throw new Error('room log is closed');
  }
}
