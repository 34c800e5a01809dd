import { ErrorCode, P3Error, isPlainObject, validatePatch, type JsonValue, type Patch } from '@p3/protocol';
import type { ChangeLog, LoggedChange } from '@p3/ecs-sync-server';
import type { LogEntry, RoomLog } from '../ports/room-log.js';
import type { RoomKey } from '../ports/snapshot-store.js';

/**
 * The `ChangeLog` of one document room over the server's shared `RoomLog` (file, memory or Postgres): keyed like
 * the room's snapshot (`{tenant, room: 'doc/<id>'}`), one record per change, version = the change's timestamp,
 * data `{ p: documentPatches }`. Records read back are checked like client input: a room must not start over data
 * it cannot trust.
 *
 * @example
 * new Room({ storage, log: new RoomLogChangeLog(roomLog, { tenant, room: `doc/${id}` }) });
 */
export class RoomLogChangeLog implements ChangeLog {
  constructor(
    private readonly log: RoomLog,
    private readonly key: RoomKey,
  ) {}

  append(change: LoggedChange): Promise<void> {
    // Patches are JSON by construction (validated on the way in); the log copies or encodes them.
    const data: JsonValue = { p: change.documentPatches as Patch[] };
    return this.log.append(this.key, change.timestamp, data);
  }

  async read(after: number): Promise<LoggedChange[]> {
    const entries = await this.log.read(this.key, after);
    return entries.map((entry) => this.decode(entry));
  }

  truncate(through: number): Promise<void> {
    return this.log.truncate(this.key, through);
  }

  private decode(entry: LogEntry): LoggedChange {
    const data = entry.data;
    if (!isPlainObject(data) || !Array.isArray(data.p)) this.bad(entry, 'data must be {"p": [patch...]}');
    const documentPatches: Patch[] = [];
    for (const candidate of data.p) {
      const patch = validatePatch(candidate);
      if (!patch.ok) this.bad(entry, patch.error.message);
      documentPatches.push(patch.value);
    }
    return { timestamp: entry.version, documentPatches };
  }

  private bad(entry: LogEntry, problem: string): never {
    throw new P3Error(
      ErrorCode.Internal,
      `room ${this.key.room}: log record ${entry.version} is not a document change (${problem})`,
    );
  }
}
