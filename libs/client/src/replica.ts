import { FrameType, type EntityUpdate, type Frame } from '@p3/protocol';
import { applyChanges, emptyWorld, type WorldState } from './entity-state.js';

/** An authoritative frame the client holds, with the world after it. */
export interface HeldFrame {
  readonly frame: Frame;
  readonly world: WorldState;
}

/**
 * What `Replica.apply` did with a frame:
 * - `applied`: the next frame, now the latest (the empty frames the room skipped before it are held too);
 * - `corrected`: a re-issued past frame; the history from it was rebuilt;
 * - `stale`: a frame the replica already has (ignored);
 * - `gap`: frames are missing before it (ask the server to resync from `replica.frame`);
 * - `unrewindable`: a correction the held history cannot replay (ask to resync from `from`).
 */
export type ApplyOutcome =
  | { readonly kind: 'applied' | 'corrected'; readonly held: HeldFrame }
  | { readonly kind: 'stale' | 'gap' }
  | { readonly kind: 'unrewindable'; readonly from: number };

const none: readonly never[] = Object.freeze([]);

/**
 * The authoritative side of the client: the world at the latest frame and the worlds of the last `capacity`
 * frames before it (`getFrame(-n)`, interpolation, and rewinds for corrected frames). Frames apply strictly in
 * order; a corrected frame K rebuilds K..latest from the world at K-1 and the held frames after K.
 *
 * Rooms skip frames that change nothing: a frame names the one it follows (`prev`) and an `idle` heartbeat says
 * which frames were empty. The frames in between are held as empty frames (type `verified`, the world unchanged),
 * so the frame clock advances, history stays contiguous for rewinds and interpolation, and a missing message is
 * still told from a skip ([CLIENT-20]).
 */
export class Replica {
  private readonly held = new Map<number, HeldFrame>();
  private latest = -1;
  private capacity: number;
  private tickInterval = 1000 / 30;

  constructor(capacity = 20) {
    this.capacity = capacity;
  }

  /** The latest authoritative frame id; -1 before the first welcome. */
  get frame(): number {
    return this.latest;
  }

  get world(): WorldState {
    return this.held.get(this.latest)?.world ?? emptyWorld;
  }

  get head(): HeldFrame | undefined {
    return this.held.get(this.latest);
  }

  /** Type name of an entity of the latest world. */
  typeOf(id: string): string | undefined {
    return this.world.get(id)?.typeName;
  }

  /** How many frames before the latest are kept (the room's bufferFrame, so every correction can be replayed). */
  setCapacity(capacity: number): void {
    this.capacity = Math.max(1, capacity);
    this.prune();
  }

  /** The room's tick interval (ms): the time of the empty frames a room skipped. */
  setTickInterval(ms: number): void {
    this.tickInterval = ms;
  }

  get(id: number): HeldFrame | undefined {
    return this.held.get(id);
  }

  /** Held frames, oldest first. */
  frames(): HeldFrame[] {
    return [...this.held.values()].sort((a, b) => a.frame.id - b.frame.id);
  }

  /**
   * Installs a state sent in bulk (welcome, catch-up) as the frame `id`. `replace` drops the world and the history
   * (a full state); otherwise the changes apply on top of the latest world, and held frames after `since` (now
   * possibly stale, e.g. after a correction the replica could not replay) are forgotten.
   */
  bootstrap(
    id: number,
    time: number,
    entities: readonly EntityUpdate[],
    removed: readonly string[],
    replace: boolean,
    since = this.latest,
  ): HeldFrame {
    const base = replace ? emptyWorld : this.world;
    if (replace) this.held.clear();
    else for (const key of [...this.held.keys()]) if (key > since) this.held.delete(key);
    const held: HeldFrame = {
      frame: { id, type: FrameType.Corrected, time, events: [], entities, removed },
      world: applyChanges(base, entities, removed),
    };
    this.held.set(id, held);
    this.latest = id;
    this.prune();
    return held;
  }

  /**
   * Applies a frame that follows frame `prev` of the room's stream (default: the frame before it): when the latest
   * frame held is at or after `prev`, the frames up to it were empty and the frame applies; after a later `prev`
   * something was missed (a gap).
   */
  apply(frame: Frame, prev = frame.id - 1): ApplyOutcome {
    if (this.latest < 0) return { kind: 'gap' };
    if (frame.id > this.latest) {
      if (prev > this.latest) return { kind: 'gap' };
      this.fill(frame.id - 1);
      const held = { frame, world: applyChanges(this.world, frame.entities, frame.removed) };
      this.held.set(frame.id, held);
      this.latest = frame.id;
      this.prune();
      return { kind: 'applied', held };
    }
    if (frame.type !== FrameType.Corrected) return { kind: 'stale' };
    return this.correct(frame);
  }

  /**
   * An `idle` heartbeat: frames `prev + 1 .. through` were empty. `advanced`: they are held (the latest is
   * `through`); `stale`: the replica is there already; `gap`: something after the latest held was missed.
   */
  skip(prev: number, through: number): 'advanced' | 'stale' | 'gap' {
    if (this.latest < 0 || prev > this.latest) return 'gap';
    if (through <= this.latest) return 'stale';
    this.fill(through);
    this.prune();
    return 'advanced';
  }

  /** Holds the frames after the latest up to `through` as empty frames on the latest world (only those kept). */
  private fill(through: number): void {
    if (through <= this.latest) return;
    const world = this.world;
    for (let id = Math.max(this.latest + 1, through - this.capacity); id <= through; id++) {
      const frame: Frame = {
        id,
        type: FrameType.Verified,
        time: id * this.tickInterval,
        events: none,
        entities: none,
        removed: none,
      };
      this.held.set(id, { frame, world });
    }
    this.latest = through;
  }

  /** Rebuilds the history from a corrected frame: world at K-1 + corrected K + the held frames after K, in order. */
  private correct(frame: Frame): ApplyOutcome {
    const before = this.held.get(frame.id - 1);
    if (!before) return { kind: 'unrewindable', from: Math.max(0, frame.id - 1) };
    for (let id = frame.id + 1; id <= this.latest; id++) {
      if (!this.held.has(id)) return { kind: 'unrewindable', from: Math.max(0, frame.id - 1) };
    }
    const held: HeldFrame = { frame, world: applyChanges(before.world, frame.entities, frame.removed) };
    this.held.set(frame.id, held);
    let world = held.world;
    for (let id = frame.id + 1; id <= this.latest; id++) {
      const later = this.held.get(id)!;
      world = applyChanges(world, later.frame.entities, later.frame.removed);
      this.held.set(id, { frame: later.frame, world });
    }
    return { kind: 'corrected', held };
  }

  private prune(): void {
    const oldest = this.latest - this.capacity;
    for (const key of this.held.keys()) if (key < oldest) this.held.delete(key);
  }
}
