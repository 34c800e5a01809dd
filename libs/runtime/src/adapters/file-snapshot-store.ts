import { mkdir, open, readFile, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  isNewer,
  type RoomKey,
  type SaveOutcome,
  type SnapshotStore,
  type StoredSnapshot,
} from '../ports/snapshot-store.js';

/**
 * Snapshots as JSON files under `dir/<tenant>/<room>.json` (the embedded default: durable, no services needed).
 * Writes are atomic: a temp file is written and fsynced, then renamed over the old one and the directory fsynced,
 * so a crash mid-save leaves either the old or the new snapshot, never a torn one. Saves of one room are serialized.
 * Temp files a crashed process left behind are removed the first time this store touches their tenant's folder.
 */
export class FileSnapshotStore implements SnapshotStore {
  private readonly queues = new Map<string, Promise<unknown>>();
  private readonly cleaned = new Map<string, Promise<void>>();
  /** (epoch, version) of the snapshot this store last wrote per file: the fencing check needs no read then. */
  private readonly written = new Map<string, Pick<StoredSnapshot, 'epoch' | 'version'>>();
  private counter = 0;

  constructor(private readonly dir: string) {}

  async load(key: RoomKey): Promise<StoredSnapshot | null> {
    await this.removeOrphans(key);
    try {
      return JSON.parse(await readFile(this.pathOf(key), 'utf8')) as StoredSnapshot;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  save(key: RoomKey, snapshot: StoredSnapshot): Promise<SaveOutcome> {
    const path = this.pathOf(key);
    const previous = this.queues.get(path) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(() => this.write(key, path, snapshot));
    this.queues.set(path, next);
    void next
      .finally(() => {
        if (this.queues.get(path) === next) this.queues.delete(path);
      })
      .catch(() => undefined);
    return next;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.queues.values()]);
  }

  /**
   * Before this store first reads or writes a tenant's folder: every temp file in it is an orphan of a save that
   * crashed (this process has written none there yet), whatever pid wrote it.
   */
  private removeOrphans(key: RoomKey): Promise<void> {
    const folder = join(this.dir, encodeURIComponent(key.tenant));
    let done = this.cleaned.get(folder);
    if (done === undefined) {
      done = readdir(folder)
        .then((names) =>
          Promise.all(
            names.filter((n) => n.endsWith('.tmp')).map((n) => rm(join(folder, n), { force: true })),
          ),
        )
        .then(
          () => undefined,
          (error: NodeJS.ErrnoException) => {
            if (error.code !== 'ENOENT') throw error;
          },
        );
      this.cleaned.set(folder, done);
    }
    return done;
  }

  private async write(key: RoomKey, path: string, snapshot: StoredSnapshot): Promise<SaveOutcome> {
    // One process owns a data directory: what it wrote last is what the file holds.
    const current = this.written.get(path) ?? (await this.load(key));
    if (current && !isNewer(snapshot, current)) return 'stale';
    const folder = join(this.dir, encodeURIComponent(key.tenant));
    await mkdir(folder, { recursive: true });
    const temp = `${path}.${process.pid}.${++this.counter}.tmp`;
    const file = await open(temp, 'w');
    try {
      await file.writeFile(JSON.stringify(snapshot));
      await file.sync();
    } finally {
      await file.close();
    }
    try {
      await rename(temp, path);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
    const handle = await open(folder, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    this.written.set(path, { epoch: snapshot.epoch, version: snapshot.version });
    return 'saved';
  }

  private pathOf(key: RoomKey): string {
    return join(this.dir, encodeURIComponent(key.tenant), `${encodeURIComponent(key.room)}.json`);
  }
}
