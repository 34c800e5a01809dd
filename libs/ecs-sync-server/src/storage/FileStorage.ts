import { randomUUID } from 'node:crypto';
import * as nodeFs from 'node:fs/promises';
import { join } from 'node:path';
import { parseRoomSnapshot } from '../roomSnapshot.js';
import type { RoomSnapshot } from '../types.js';
import type { SyncStorage } from './SyncStorage.js';

/**
 * The file-system calls FileStorage makes (injectable, e.g. to simulate a crash in tests). Without `readdir`, the
 * leftovers of crashed saves are not cleaned up.
 */
export type FileStorageFs = Pick<typeof nodeFs, 'mkdir' | 'open' | 'readFile' | 'rename' | 'unlink'> &
  Partial<Pick<typeof nodeFs, 'readdir'>>;

export interface FileStorageOptions {
  /** Directory of the room files (created on the first save). */
  dir: string;
  roomId: string;
  fs?: FileStorageFs;
}

/**
 * One JSON file per room: `<dir>/<encodeURIComponent(roomId)>.json`.
 *
 * Writes are atomic: the snapshot goes to a temporary file in the same directory, which is fsynced and renamed
 * over the room file, then the directory is fsynced. A crash at any point leaves either the previous or the new
 * file, never a torn one; leftover temporary files (`.<name>.<pid>.<uuid>.tmp`) are ignored by `load()`, and the
 * first `load()` of an instance deletes those of its room (orphans of a crashed save: one FileStorage per room at a
 * time, or it could delete the temporary file of another instance's running save, which would then fail).
 * Saves of one instance run one at a time in call order (the last one wins). A room file that exists but cannot
 * be parsed makes `load()` reject: the room must not start empty over a document it failed to read.
 *
 * @example
 * const storage = new FileStorage({ dir: './data', roomId: 'my-room' });
 */
export class FileStorage implements SyncStorage {
  readonly file: string;
  private readonly dir: string;
  private readonly name: string;
  private readonly fs: FileStorageFs;
  private tail: Promise<void> = Promise.resolve();
  private cleaned = false;

  constructor(options: FileStorageOptions) {
    this.dir = options.dir;
    this.name = `${encodeURIComponent(options.roomId)}.json`;
    this.file = join(options.dir, this.name);
    this.fs = options.fs ?? nodeFs;
  }

  async load(): Promise<RoomSnapshot | null> {
    await this.tail;
    if (!this.cleaned) {
      this.cleaned = true;
      await this.removeOrphans();
    }
    let text: string;
    try {
      text = await this.fs.readFile(this.file, 'utf8');
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return null;
      throw error;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (cause) {
      throw new Error(`room file ${this.file} is not valid JSON`, { cause });
    }
    return parseRoomSnapshot(parsed);
  }

  save(snapshot: RoomSnapshot): Promise<void> {
    // Serialize now: the caller may change its objects while earlier saves are still running.
    const text = JSON.stringify(snapshot);
    const run = this.tail.then(() => this.write(text));
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async write(text: string): Promise<void> {
    await this.fs.mkdir(this.dir, { recursive: true });
    const temp = join(this.dir, `.${this.name}.${process.pid}.${randomUUID()}.tmp`);
    let handle: nodeFs.FileHandle | undefined;
    try {
      handle = await this.fs.open(temp, 'wx', 0o644);
      await handle.writeFile(text, 'utf8');
      await handle.sync();
      await handle.close();
      handle = undefined;
      await this.fs.rename(temp, this.file);
    } catch (error) {
      await handle?.close().catch(() => undefined);
      await this.fs.unlink(temp).catch(() => undefined);
      throw error;
    }
    await this.syncDir();
  }

  /** [FILE-2] Deletes this room's temporary files left by a crashed save (best effort: they are ignored anyway). */
  private async removeOrphans(): Promise<void> {
    if (this.fs.readdir === undefined) return;
    // Exactly `.<name>.<pid>.<uuid>.tmp`: the uuid holds no dot, so another room's files never match.
    const orphan = new RegExp(`^\\.${escapeRegExp(this.name)}\\.\\d+\\.[^.]+\\.tmp$`);
    let names: string[];
    try {
      names = await this.fs.readdir(this.dir);
    } catch {
      return;
    }
    for (const name of names) {
      if (orphan.test(name)) await this.fs.unlink(join(this.dir, name)).catch(() => undefined);
    }
  }

  /** Makes the rename durable. Platforms that cannot open or fsync a directory (Windows) skip it. */
  private async syncDir(): Promise<void> {
    let handle: nodeFs.FileHandle | undefined;
    try {
      handle = await this.fs.open(this.dir, 'r');
      await handle.sync();
    } catch (error) {
      if (!['EISDIR', 'EPERM', 'EINVAL', 'ENOTSUP', 'EACCES'].includes(errorCode(error) ?? '')) throw error;
    } finally {
      await handle?.close().catch(() => undefined);
    }
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
