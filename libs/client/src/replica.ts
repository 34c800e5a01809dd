import { FrameType, type EntityUpdate, type Frame } from '@p3/protocol';
import { applyChanges, emptyWorld, type WorldState } from './entity-state.js';
import { foldFrames } from './frame-fold.js';
import { PackedFrame, ShapeCache, UpdateHistory } from './packed-frame.js';

const none: readonly never[] = Object.freeze([]);

/** An authoritative frame the client holds, with the world after it. */
export interface HeldFrame {
  readonly frame: Frame;
  readonly world: WorldState;
}

/**
 * A held frame whose world is built when first read: from the nearest frame before it whose world is built, with
 * each entity's updates of the frames in between applied as one (frame-fold.ts). A client that only reads each
 * frame's changes (the `frame` event's `entities`) never builds a world per frame; one that reads the world every
 * frame builds each once, as before. Once a later frame is held, this one's updates are packed ([CLIENT-36]).
 */
class LazyFrame implements HeldFrame {
  readonly id: number;
  #frame: Frame;
  #world: WorldState | undefined;
  /** The frame this one applies on, until this one's world is built. */
  #before: LazyFrame | undefined;

  constructor(frame: Frame, before: LazyFrame | undefined, world?: WorldState) {
    this.id = frame.id;
    this.#frame = frame;
    this.#before = world === undefined ? before : undefined;
    this.#world = world;
  }

  get frame(): Frame {
    return this.#frame;
  }

  /** Keeps this frame's updates packed from now on (it is no longer the latest: its objects are rarely read). */
  pack(shapes: ShapeCache, history: UpdateHistory, release: () => void): void {
    const frame = this.#frame;
    if (!(frame instanceof PackedFrame) && frame.entities.length > 0)
      this.#frame = PackedFrame.pack(frame, shapes, history, release);
  }

  /** `frame` and the ones its unbuilt world applies on, it first. */
  static *chain(frame: LazyFrame): Generator<LazyFrame> {
    let at: LazyFrame | undefined = frame;
    for (; at !== undefined; at = at.#world === undefined ? at.#before : undefined) yield at;
  }

  /** Frames this one's world would apply if read now (0: built). */
  get unbuilt(): number {
    let n = 0;
    for (const at of LazyFrame.chain(this)) if (at.#world === undefined) n++;
    return n;
  }

  get world(): WorldState {
    return this.#world ?? LazyFrame.build(this);
  }

  private static build(target: LazyFrame): WorldState {
    const chain: Frame[] = [];
    let at: LazyFrame = target;
    while (at.#world === undefined) {
      chain.push(at.#frame);
      at = at.#before!;
    }
    const frame = target.#frame;
    const world =
      chain.length === 1 && !(frame instanceof PackedFrame)
        ? applyChanges(at.#world, frame.entities, frame.removed)
        : foldFrames(at.#world, chain.reverse());
    target.#world = world;
    target.#before = undefined;
    return world;
  }
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
  /**
   * The held frames in a ring of capacity + 1 slots, frame id modulo its length: frames arrive in order and only the
   * last capacity + 1 are held, so each takes the slot of one that left the window (no map entry per frame).
   */
  private slots: Array<LazyFrame | undefined>;
  private latest = -1;
  /** The held frame `latest` (read on every write and every frame: no map lookup). */
  private last: LazyFrame | undefined;
  /**
   * Type of every entity of the latest world, kept as frames apply: writes check types without building the world.
   * Rebuilt from the world after a bulk state or a correction (rare).
   */
  private types = new Map<string, string>();
  private capacity: number;
  /** Frames held since the oldest one's world was last built (see boundUnbuiltChains). */
  private added = 0;
  private tickInterval = 1000 / 30;
  private readonly shapes = new ShapeCache();
  private readonly history = new UpdateHistory();
  private readonly release = (): void => this.releaseHistory();

  constructor(capacity = 20) {
    this.capacity = capacity;
    this.slots = new Array<LazyFrame | undefined>(capacity + 1).fill(undefined);
  }

  /** The latest authoritative frame id; -1 before the first welcome. */
  get frame(): number {
    return this.latest;
  }

  get world(): WorldState {
    return this.last?.world ?? emptyWorld;
  }

  get head(): HeldFrame | undefined {
    return this.last;
  }

  /** Frames the latest world would apply if read now: bounded by about three times the capacity (see boundUnbuiltChains). */
  get unbuiltFrames(): number {
    return this.last?.unbuilt ?? 0;
  }

  /** Type name of an entity of the latest world. */
  typeOf(id: string): string | undefined {
    return this.types.get(id);
  }

  /** How many frames before the latest are kept (the room's bufferFrame, so every correction can be replayed). */
  setCapacity(capacity: number): void {
    const kept = this.window();
    this.capacity = Math.max(1, capacity);
    this.slots = new Array<LazyFrame | undefined>(this.capacity + 1).fill(undefined);
    for (const held of kept) this.put(held);
    this.boundUnbuiltChains();
  }

  /** The room's tick interval (ms): the time of the empty frames a room skipped. */
  setTickInterval(ms: number): void {
    this.tickInterval = ms;
  }

  get(id: number): HeldFrame | undefined {
    return this.at(id);
  }

  /** Held frames, oldest first. */
  frames(): HeldFrame[] {
    return this.window();
  }

  private window(): LazyFrame[] {
    const out: LazyFrame[] = [];
    for (let id = Math.max(0, this.latest - this.capacity); id <= this.latest; id++) {
      const held = this.at(id);
      if (held !== undefined) out.push(held);
    }
    return out;
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
    if (replace) this.slots.fill(undefined);
    else {
      for (let i = 0; i < this.slots.length; i++) {
        const held = this.slots[i];
        if (held !== undefined && held.id > since) this.slots[i] = undefined;
      }
    }
    const held = new LazyFrame(
      { id, type: FrameType.Corrected, time, events: [], entities, removed },
      undefined,
      applyChanges(base, entities, removed),
    );
    this.setLatest(held);
    this.retype();
    this.boundUnbuiltChains();
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
      const held = new LazyFrame(frame, this.last);
      this.setLatest(held);
      this.typeChanges(frame);
      this.boundUnbuiltChains();
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
    this.boundUnbuiltChains();
    return 'advanced';
  }

  /** Holds the frames after the latest up to `through` as empty frames on the latest world (only those kept). */
  private fill(through: number): void {
    if (through <= this.latest) return;
    for (let id = Math.max(this.latest + 1, through - this.capacity); id <= through; id++) {
      const frame: Frame = {
        id,
        type: FrameType.Verified,
        time: id * this.tickInterval,
        events: none,
        entities: none,
        removed: none,
      };
      this.setLatest(new LazyFrame(frame, this.last));
    }
  }

  /** Rebuilds the history from a corrected frame: world at K-1 + corrected K + the held frames after K, in order. */
  private correct(frame: Frame): ApplyOutcome {
    const before = this.at(frame.id - 1);
    if (!before) return { kind: 'unrewindable', from: Math.max(0, frame.id - 1) };
    const later: Frame[] = [];
    for (let id = frame.id + 1; id <= this.latest; id++) {
      const held = this.at(id);
      if (held === undefined) return { kind: 'unrewindable', from: Math.max(0, frame.id - 1) };
      // Unpacked: held again after the corrected frame, they are packed anew (their old positions may be released).
      const f = held.frame;
      later.push(
        f instanceof PackedFrame
          ? {
              id: f.id,
              type: f.type,
              time: f.time,
              events: f.events,
              entities: f.entities,
              removed: f.removed,
            }
          : f,
      );
    }
    // New objects from K on: views of the frames before the correction keep the worlds they showed.
    const held = new LazyFrame(frame, before);
    this.setLatest(held);
    for (const next of later) this.setLatest(new LazyFrame(next, this.last));
    this.retype();
    return { kind: 'corrected', held };
  }

  /** The held frame `id`, while inside the window (a slot may still hold a frame that left it). */
  private at(id: number): LazyFrame | undefined {
    if (id < 0 || id > this.latest || id < this.latest - this.capacity) return undefined;
    const held = this.slots[id % this.slots.length];
    return held !== undefined && held.id === id ? held : undefined;
  }

  private put(held: LazyFrame): void {
    this.slots[held.id % this.slots.length] = held;
  }

  private setLatest(held: LazyFrame): void {
    this.last?.pack(this.shapes, this.history, this.release);
    this.added++;
    this.put(held);
    this.latest = held.id;
    this.last = held;
  }

  /**
   * Tells the update history what the frames still held need: the packed updates of the frames in the window, and
   * of the frames the oldest one's unbuilt world applies on. Called when the history is full, not per frame.
   */
  private releaseHistory(): void {
    const { history } = this;
    let update = history.ids.head;
    let number = history.numbers.head;
    let other = history.others.head;
    const needs = (held: LazyFrame): void => {
      const frame = held.frame;
      if (!(frame instanceof PackedFrame)) return;
      update = Math.min(update, frame.update);
      number = Math.min(number, frame.number);
      other = Math.min(other, frame.other);
    };
    const window = this.window();
    for (const held of window) needs(held);
    if (window.length > 0) for (const held of LazyFrame.chain(window[0]!)) needs(held);
    history.release(update, number, other);
  }

  /** The types index after one more frame: its updates, then its removals (as the world applies them). */
  private typeChanges(frame: Frame): void {
    const { entities, removed } = frame;
    const types = this.types;
    for (let i = 0; i < entities.length; i++) {
      const u = entities[i]!;
      if (types.get(u.id) !== u.typeName) types.set(u.id, u.typeName);
    }
    for (let i = 0; i < removed.length; i++) types.delete(removed[i]!);
  }

  private retype(): void {
    const types = new Map<string, string>();
    for (const entity of this.world.values()) types.set(entity.id, entity.typeName);
    this.types = types;
  }

  /**
   * Frames older than the capacity leave the window by themselves (their slots are taken). An unbuilt world needs
   * the frames before it, back to a built one: once per twice the capacity frames added the oldest held frame's
   * world is built, so the frames a chain keeps reachable are bounded (about three times the capacity) however
   * rarely worlds are read. Not more often: each build makes a world (an object per entity) that lives until the
   * next one, and the frames' own updates are packed ([CLIENT-36]), so a longer chain costs ring space only.
   */
  private boundUnbuiltChains(): void {
    if (this.added < 2 * this.capacity) return;
    this.added = 0;
    for (let id = Math.max(0, this.latest - this.capacity); id <= this.latest; id++) {
      const oldest = this.at(id);
      if (oldest === undefined) continue;
      void oldest.world;
      return;
    }
  }
}
