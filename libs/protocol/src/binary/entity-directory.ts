import { ErrorCode, P3Error } from '../errors.js';

export interface DirectoryEntry {
  /** The small number that stands for the entity on the wire (1, 2, 3, ... never reused). */
  readonly n: number;
  readonly uuid: string;
  readonly typeIndex: number;
  /**
   * Server: a `frame` (sent to every member) defined this entry. Entries first defined in a `welcome` or a
   * `catchup` (sent to one client) are defined again by the next frame that mentions them.
   */
  readonly announced: boolean;
  /** Frame counter when the entity was removed; undefined while it lives. Changed only when a message commits. */
  removedAt: number | undefined;
}

/** What tests and tools may look at. */
export interface DirectoryView {
  readonly size: number;
  numberOf(uuid: string): number | undefined;
  idOf(n: number): string | undefined;
}

/** n is written as 4n + mode in a varint of at most 2^53-1. */
const maxN = 2 ** 51 - 1;
const recentSlots = 1024;

/**
 * The entity directory of the binary codec: `uuid <-> n` and `n -> type index`.
 *
 * A server codec assigns n = 1, 2, 3, ... and never reuses one. A client codec mirrors the server's directory
 * from the DEFINEs it decodes (and replaces it wholesale from a `welcome`).
 *
 * Garbage: an entry is dropped `retainFrames` frames after the frame that removed its entity, counted on the
 * highest frame id seen; a creation of the same uuid before then keeps the entry (and its n).
 *
 * Transactions: a message that fails half-way (an encoder throws, a decoder meets a bad byte) must leave the
 * directory as it was, or later REFs would point at entries no client holds. `begin()` starts recording every
 * map change, `rollback()` undoes them in reverse, `commit()` forgets them.
 */
export class EntityDirectory implements DirectoryView {
  retainFrames: number;
  private readonly byN = new Map<number, DirectoryEntry>();
  /**
   * The entries of byN again, at n modulo its length (an entry whose n differs is another's): decoding a frame looks
   * up every update's n, and an array read is cheaper than a map's. Written wherever byN is.
   */
  private readonly recentN = new Array<DirectoryEntry | undefined>(recentSlots).fill(undefined);
  private readonly byUuid = new Map<string, DirectoryEntry>();
  private nextN = 1;
  private latest = 0;
  /** Removed entries waiting for their drop, in order of `at` (non-decreasing). */
  private queue: { readonly n: number; readonly at: number }[] = [];
  private head = 0;
  private recording = false;
  private readonly undoN: { readonly n: number; readonly prev: DirectoryEntry | undefined }[] = [];
  private readonly undoUuid: { readonly uuid: string; readonly prev: DirectoryEntry | undefined }[] = [];

  constructor(retainFrames: number) {
    this.retainFrames = retainFrames;
  }

  get size(): number {
    return this.byN.size;
  }

  get latestFrame(): number {
    return this.latest;
  }

  numberOf(uuid: string): number | undefined {
    return this.byUuid.get(uuid)?.n;
  }

  idOf(n: number): string | undefined {
    return this.byN.get(n)?.uuid;
  }

  byId(uuid: string): DirectoryEntry | undefined {
    return this.byUuid.get(uuid);
  }

  at(n: number): DirectoryEntry | undefined {
    const recent = this.recentN[n % recentSlots];
    return recent !== undefined && recent.n === n ? recent : this.byN.get(n);
  }

  /** Every entry, in increasing n. */
  entries(): DirectoryEntry[] {
    const list = [...this.byN.values()];
    for (let i = 1; i < list.length; i++) {
      if ((list[i] as DirectoryEntry).n < (list[i - 1] as DirectoryEntry).n) {
        return list.sort((a, b) => a.n - b.n);
      }
    }
    return list;
  }

  // ------------------------------------------------------------------------------------------------------------
  // Changes (recorded between begin() and commit()/rollback())

  /** Server: a new entry with the next n. */
  assign(uuid: string, typeIndex: number, announced: boolean): DirectoryEntry {
    if (this.nextN > maxN) throw new P3Error(ErrorCode.Internal, 'entity directory numbers exhausted');
    const entry: DirectoryEntry = { n: this.nextN++, uuid, typeIndex, announced, removedAt: undefined };
    this.put(entry);
    return entry;
  }

  /** Server: the same n with another type or announcement; a pending removal stays pending. */
  update(entry: DirectoryEntry, typeIndex: number, announced: boolean): DirectoryEntry {
    const next: DirectoryEntry = {
      n: entry.n,
      uuid: entry.uuid,
      typeIndex,
      announced,
      removedAt: entry.removedAt,
    };
    this.put(next);
    return next;
  }

  /** Client: a DEFINE read from the wire. Unchanged when it repeats what the directory holds. */
  define(n: number, uuid: string, typeIndex: number): DirectoryEntry {
    const current = this.byN.get(n);
    if (current !== undefined && current.uuid === uuid && current.typeIndex === typeIndex) return current;
    const entry: DirectoryEntry = { n, uuid, typeIndex, announced: true, removedAt: undefined };
    this.put(entry);
    if (n >= this.nextN) this.nextN = n + 1;
    return entry;
  }

  /**
   * Puts an entry at its n. A different uuid held at that n, or a different n held by that uuid, is dropped:
   * the server gives a uuid a new n only after it dropped the old one, and never reuses an n.
   */
  private put(entry: DirectoryEntry): void {
    const atN = this.byN.get(entry.n);
    const forUuid = this.byUuid.get(entry.uuid);
    if (atN !== undefined && atN.uuid !== entry.uuid && this.byUuid.get(atN.uuid) === atN) {
      this.setUuid(atN.uuid, undefined);
    }
    if (forUuid !== undefined && forUuid.n !== entry.n && this.byN.get(forUuid.n) === forUuid) {
      this.setN(forUuid.n, undefined);
    }
    this.setN(entry.n, entry);
    this.setUuid(entry.uuid, entry);
  }

  private setN(n: number, entry: DirectoryEntry | undefined): void {
    if (this.recording) this.undoN.push({ n, prev: this.byN.get(n) });
    this.putN(n, entry);
  }

  private putN(n: number, entry: DirectoryEntry | undefined): void {
    if (entry === undefined) this.byN.delete(n);
    else this.byN.set(n, entry);
    this.recentN[n % recentSlots] = entry;
  }

  private setUuid(uuid: string, entry: DirectoryEntry | undefined): void {
    if (this.recording) this.undoUuid.push({ uuid, prev: this.byUuid.get(uuid) });
    if (entry === undefined) this.byUuid.delete(uuid);
    else this.byUuid.set(uuid, entry);
  }

  begin(): void {
    this.recording = true;
    this.undoN.length = 0;
    this.undoUuid.length = 0;
  }

  commit(): void {
    this.recording = false;
    this.undoN.length = 0;
    this.undoUuid.length = 0;
  }

  /** Undoes every change since begin(). Numbers handed out stay used: they were never sent, skipping them is safe. */
  rollback(): void {
    for (let i = this.undoN.length - 1; i >= 0; i--) {
      const { n, prev } = this.undoN[i] as { n: number; prev: DirectoryEntry | undefined };
      this.putN(n, prev);
    }
    for (let i = this.undoUuid.length - 1; i >= 0; i--) {
      const { uuid, prev } = this.undoUuid[i] as { uuid: string; prev: DirectoryEntry | undefined };
      if (prev === undefined) this.byUuid.delete(uuid);
      else this.byUuid.set(uuid, prev);
    }
    this.commit();
  }

  // ------------------------------------------------------------------------------------------------------------
  // Garbage (called after a message committed)

  /** Moves the frame counter forward (never back: a `corrected` frame may carry an older id). */
  advanceTo(frame: number): void {
    if (frame > this.latest) this.latest = frame;
  }

  /** The entity was created (again): a pending removal is cancelled and the entry keeps its n. */
  revive(uuid: string): void {
    const entry = this.byUuid.get(uuid);
    if (entry !== undefined) entry.removedAt = undefined;
  }

  /** The entity was removed at the current frame: its entry is dropped `retainFrames` frames later. */
  retire(uuid: string): void {
    const entry = this.byUuid.get(uuid);
    if (entry === undefined || entry.removedAt !== undefined) return;
    this.scheduleDrop(entry, this.latest);
  }

  /** Client: an entry from a welcome's directory, with the frame its entity was removed at (if any). */
  load(n: number, uuid: string, typeIndex: number, removedAt: number | undefined): void {
    const entry = this.define(n, uuid, typeIndex);
    if (removedAt !== undefined) this.scheduleDrop(entry, removedAt);
  }

  /** Client: after load(), orders the drop queue and sets the frame counter. */
  loaded(frame: number): void {
    this.queue.sort((a, b) => a.at - b.at);
    this.latest = frame;
  }

  /** Drops every entry whose removal is `retainFrames` frames old. */
  collect(): void {
    const queue = this.queue;
    while (this.head < queue.length) {
      const { n, at } = queue[this.head] as { n: number; at: number };
      if (this.latest - at < this.retainFrames) break;
      this.head++;
      const entry = this.byN.get(n);
      if (entry === undefined || entry.removedAt !== at) continue;
      this.putN(n, undefined);
      if (this.byUuid.get(entry.uuid) === entry) this.byUuid.delete(entry.uuid);
    }
    if (this.head > 1024 && this.head * 2 > queue.length) {
      this.queue = queue.slice(this.head);
      this.head = 0;
    }
  }

  private scheduleDrop(entry: DirectoryEntry, at: number): void {
    entry.removedAt = at;
    this.queue.push({ n: entry.n, at });
  }
}
