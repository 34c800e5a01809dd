import { ErrorCode, P3Error } from '@p3/protocol';
import type { RoomSnapshot, SyncStorage } from '@p3/ecs-sync-server';
import type { RoomKey, SnapshotStore, StoredSnapshot } from '../ports/snapshot-store.js';

/**
 * The ecs-sync `SyncStorage` of one document room, kept in the server's SnapshotStore (file, memory or Postgres)
 * beside the world rooms, as a `document` snapshot.
 *
 * A team's room (`doc/<team>/<id>`) with no snapshot of its own continues, when given its `legacy` key, the room its
 * team owned under the bare id before rooms were scoped by team (snapshots then recorded the owning team);
 * `continuesLegacy` tells the room's change log to replay that room's log first.
 */
export class SnapshotSyncStorage implements SyncStorage {
  /** True once `load` returned the legacy room's snapshot (see the class comment). */
  continuesLegacy = false;

  constructor(
    private readonly store: SnapshotStore,
    private readonly key: RoomKey,
    private readonly legacy?: { readonly key: RoomKey; readonly team: string },
    private readonly epochOf?: (key: RoomKey) => number,
  ) {}

  async load(): Promise<RoomSnapshot | null> {
    const stored = await this.store.load(this.key);
    if (stored !== null) return this.documentOf(stored, this.key);
    if (this.legacy === undefined) return null;
    const old = await this.store.load(this.legacy.key);
    if (old === null || old.kind !== 'document' || old.team !== this.legacy.team) return null;
    this.continuesLegacy = true;
    return this.documentOf(old, this.legacy.key);
  }

  async save(snapshot: RoomSnapshot): Promise<void> {
    const outcome = await this.store.save(this.key, {
      kind: 'document',
      version: snapshot.timestamp,
      epoch: this.epochOf?.(this.key) ?? 0,
      data: snapshot,
    });
    // A newer owner (higher epoch) saved the room: this one was deposed; the room reports the failed save.
    if (outcome === 'stale')
      throw new P3Error(ErrorCode.Internal, `snapshot of ${this.key.room} refused: a newer owner saved it`);
  }

  private documentOf(stored: StoredSnapshot, key: RoomKey): RoomSnapshot {
    if (stored.kind !== 'document') {
      throw new P3Error(
        ErrorCode.Internal,
        `room ${key.room} holds a ${stored.kind} snapshot, not a document`,
      );
    }
    return stored.data as RoomSnapshot;
  }
}
