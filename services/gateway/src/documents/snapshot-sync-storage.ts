import { ErrorCode, P3Error } from '@p3/protocol';
import type { RoomSnapshot, SyncStorage } from '@p3/ecs-sync-server';
import type { RoomKey, SnapshotStore } from '@p3/runtime';

/**
 * The ecs-sync `SyncStorage` of one document room, kept in the server's SnapshotStore (file, memory or Postgres)
 * beside the world rooms, as a `document` snapshot that also records the owning team.
 */
export class SnapshotSyncStorage implements SyncStorage {
  team: string | undefined;

  constructor(
    private readonly store: SnapshotStore,
    private readonly key: RoomKey,
  ) {}

  async load(): Promise<RoomSnapshot | null> {
    const stored = await this.store.load(this.key);
    if (stored === null) return null;
    if (stored.kind !== 'document') {
      throw new P3Error(
        ErrorCode.Internal,
        `room ${this.key.room} holds a ${stored.kind} snapshot, not a document`,
      );
    }
    this.team = stored.team;
    return stored.data as RoomSnapshot;
  }

  async save(snapshot: RoomSnapshot): Promise<void> {
    await this.store.save(this.key, {
      kind: 'document',
      version: snapshot.timestamp,
      epoch: 0,
      data: snapshot,
      ...(this.team === undefined ? {} : { team: this.team }),
    });
  }
}
