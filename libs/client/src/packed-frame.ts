import type { EntityFields, EntityUpdate, FieldValue, Frame, FrameType, GameEvent } from '@p3/protocol';

const none: readonly never[] = Object.freeze([]);

/** Shapes a type may have before further updates of it are kept as they came (a type with changing field sets). */
const maxShapesPerType = 32;

/**
 * The field names of an update of one type, in enumeration order, and which of them hold numbers. The updates of a
 * moving entity all have the same shape, so a held frame stores one reference per update for its field names.
 */
export class FieldShape {
  /** Values that go to the numbers ring, and to the others ring. */
  readonly numbers: number;
  readonly others: number;

  constructor(
    readonly typeName: string,
    readonly names: readonly string[],
    readonly numeric: readonly boolean[],
  ) {
    let numbers = 0;
    for (const n of numeric) if (n) numbers++;
    this.numbers = numbers;
    this.others = names.length - numbers;
  }

  /** Whether an update of this shape writes every field an update of `earlier` writes. */
  covers(earlier: FieldShape): boolean {
    if (earlier === this) return true;
    for (const name of earlier.names) if (!this.names.includes(name)) return false;
    return true;
  }

  /** Whether an update of this shape alone has the effect of `first` then it (see frame-fold.ts's `overrides`). */
  coversUpdate(first: EntityUpdate): boolean {
    if (first.created === true || first.owner !== undefined || first.input !== undefined) return false;
    if (first.fields === undefined) return true;
    for (const name in first.fields) if (!this.names.includes(name)) return false;
    return true;
  }

  /**
   * Appends `fields`' values when `fields` has exactly this shape's names, in order, with numbers where this shape has
   * them; false (and nothing appended) when it has not. One pass: the check is the copy.
   */
  copy(fields: EntityFields, numbers: NumberRing, others: RefRing<unknown>): boolean {
    const { names, numeric } = this;
    const n = numbers.head;
    const o = others.head;
    let i = 0;
    for (const name in fields) {
      const value = fields[name];
      if (i === names.length || names[i] !== name || numeric[i] !== (typeof value === 'number')) {
        i = -1;
        break;
      }
      if (typeof value === 'number') numbers.push(value);
      else others.push(value);
      i++;
    }
    if (i === names.length) return true;
    numbers.head = n;
    others.head = o;
    return false;
  }
}

/** The shapes seen so far, by type: each update finds its own without allocating. */
export class ShapeCache {
  private readonly byType = new Map<string, FieldShape[]>();
  /** The shape the last update packed had: the next one of a moving entity has it too. */
  private last: FieldShape | undefined;
  /** Most fields of any shape seen. */
  widest = 4;

  /**
   * Appends a fields-only update's values to the rings (room for `widest` values in each) and returns its shape;
   * undefined, with nothing appended, for anything else (creations, owner or input changes, a type past
   * maxShapesPerType shapes, a field named __proto__).
   */
  pack(update: EntityUpdate, numbers: NumberRing, others: RefRing<unknown>): FieldShape | undefined {
    const { fields } = update;
    if (fields === undefined || update.created !== undefined || update.owner !== undefined) return undefined;
    if (update.input !== undefined) return undefined;
    const last = this.last;
    if (last !== undefined && last.typeName === update.typeName && last.copy(fields, numbers, others))
      return last;
    let shapes = this.byType.get(update.typeName);
    if (shapes === undefined) this.byType.set(update.typeName, (shapes = []));
    for (const shape of shapes) {
      if (shape === last || !shape.copy(fields, numbers, others)) continue;
      return (this.last = shape);
    }
    if (shapes.length >= maxShapesPerType) return undefined;
    const names: string[] = [];
    const numeric: boolean[] = [];
    for (const name in fields) {
      // Unpacking assigns by name: this one would set the object's prototype instead.
      if (name === '__proto__') return undefined;
      names.push(name);
      numeric.push(typeof fields[name] === 'number');
    }
    const shape = new FieldShape(update.typeName, names, numeric);
    shapes.push(shape);
    if (names.length > this.widest) {
      this.widest = names.length;
      numbers.ensure(names.length);
      others.ensure(names.length);
    }
    shape.copy(fields, numbers, others);
    return (this.last = shape);
  }
}

/**
 * Values at positions that only grow: position p is at p & (capacity - 1) while tail <= p < head (a power-of-two
 * array). A subclass per array kind, not one generic class: each keeps its element accesses monomorphic.
 */
abstract class Ring {
  head = 0;
  tail = 0;
  abstract get capacity(): number;

  /** Values still held (between tail and head). */
  get live(): number {
    return this.head - this.tail;
  }

  fits(n: number): boolean {
    return this.live + n <= this.capacity;
  }

  /** Room for `n` more values, growing (to the next power of two that fits) when the live ones fill it. */
  ensure(n: number): void {
    if (!this.fits(n)) this.regrow(grown(this.capacity, this.live + n));
  }

  /** Moves the live values to an array of `capacity`. */
  protected abstract regrow(capacity: number): void;
}

export class RefRing<T> extends Ring {
  private data: T[] = new Array<T>(64);

  get capacity(): number {
    return this.data.length;
  }

  push(value: T): void {
    this.data[this.head++ & (this.data.length - 1)] = value;
  }

  at(p: number): T {
    return this.data[p & (this.data.length - 1)]!;
  }

  protected regrow(capacity: number): void {
    const next = new Array<T>(capacity);
    for (let p = this.tail; p < this.head; p++) next[p & (capacity - 1)] = this.at(p);
    this.data = next;
  }
}

/** Numbers in a Float64Array: no box per number. */
export class NumberRing extends Ring {
  private data = new Float64Array(256);

  get capacity(): number {
    return this.data.length;
  }

  push(value: number): void {
    this.data[this.head++ & (this.data.length - 1)] = value;
  }

  at(p: number): number {
    return this.data[p & (this.data.length - 1)]!;
  }

  protected regrow(capacity: number): void {
    const next = new Float64Array(capacity);
    for (let p = this.tail; p < this.head; p++) next[p & (capacity - 1)] = this.at(p);
    this.data = next;
  }
}

function grown(capacity: number, needed: number): number {
  while (capacity < needed) capacity *= 2;
  return capacity;
}

/**
 * The packed updates of one replica's held frames ([CLIENT-36]), in rings: per update its id and its shape (or,
 * for creations and other rare updates, the update object as it came), the numbers of every update, and their other
 * values. Frames are packed in order and leave in order, so a held frame's updates cost the collector nothing to
 * copy: no object per update or field, and no array per frame. The replica tells which positions are still needed
 * (`release`) when a ring is full; a ring grows when what is needed fills it.
 */
export class UpdateHistory {
  readonly ids = new RefRing<string>();
  readonly refs = new RefRing<FieldShape | EntityUpdate>();
  readonly numbers = new NumberRing();
  readonly others = new RefRing<unknown>();

  /** Whether `updates`, `numbers` and `others` more values fit without releasing or growing. */
  fits(updates: number, numbers: number, others: number): boolean {
    return this.ids.fits(updates) && this.numbers.fits(numbers) && this.others.fits(others);
  }

  /** Everything before these positions is no longer needed. */
  release(update: number, number: number, other: number): void {
    this.ids.tail = this.refs.tail = update;
    this.numbers.tail = number;
    this.others.tail = other;
  }
}

/**
 * A held frame whose entity updates are packed in its replica's UpdateHistory ([CLIENT-36]): the frame's header and
 * where its updates start. `entities` unpacks on first read.
 */
export class PackedFrame implements Frame {
  readonly id: number;
  readonly type: FrameType;
  readonly time: number;
  readonly events: readonly GameEvent[];
  readonly removed: readonly string[];
  /** Updates held. */
  readonly size: number;
  /** Positions of this frame's first update, number and other value in the history. */
  readonly update: number;
  readonly number: number;
  readonly other: number;
  readonly #history: UpdateHistory;
  #entities: readonly EntityUpdate[] | undefined;

  private constructor(frame: Frame, history: UpdateHistory) {
    this.id = frame.id;
    this.type = frame.type;
    this.time = frame.time;
    this.events = frame.events.length === 0 ? none : frame.events;
    this.removed = frame.removed.length === 0 ? none : frame.removed;
    this.size = frame.entities.length;
    this.update = history.ids.head;
    this.number = history.numbers.head;
    this.other = history.others.head;
    this.#history = history;
  }

  /**
   * Packs `frame`'s updates at the history's head. `release` is called first when they do not fit: it tells the
   * history which positions the frames still held need.
   */
  static pack(frame: Frame, shapes: ShapeCache, history: UpdateHistory, release: () => void): PackedFrame {
    const { entities } = frame;
    const count = entities.length;
    // Room for the widest shape seen per update, so the history releases at frame boundaries only.
    const bound = count * shapes.widest;
    // Released when full, then grown to hold as much again as is still needed besides this frame: a release per
    // many frames, not one per frame.
    const released = !history.fits(count, bound, bound);
    if (released) release();
    const { ids, refs, numbers, others } = history;
    ids.ensure(count + (released ? ids.live : 0));
    refs.ensure(count + (released ? refs.live : 0));
    numbers.ensure(bound + (released ? numbers.live : 0));
    others.ensure(bound + (released ? others.live : 0));
    const packed = new PackedFrame(frame, history);
    for (let i = 0; i < count; i++) {
      const update = entities[i]!;
      // Past the bound only after a new, wider shape (which makes room for itself) earlier in this frame.
      numbers.ensure(shapes.widest);
      others.ensure(shapes.widest);
      ids.push(update.id);
      refs.push(shapes.pack(update, numbers, others) ?? update);
    }
    return packed;
  }

  get entities(): readonly EntityUpdate[] {
    return (this.#entities ??= this.unpack());
  }

  idAt(i: number): string {
    return this.#history.ids.at(this.update + i);
  }

  /** The shape of update `i`; undefined when the update is held as it came. */
  shapeAt(i: number): FieldShape | undefined {
    const ref = this.#history.refs.at(this.update + i);
    return ref instanceof FieldShape ? ref : undefined;
  }

  /** Update `i`, unpacked (a new object each call for a packed one). */
  updateAt(i: number): EntityUpdate {
    this.checkHeld();
    let n = this.number;
    let o = this.other;
    for (let k = 0; k < i; k++) {
      const shape = this.shapeAt(k);
      if (shape === undefined) continue;
      n += shape.numbers;
      o += shape.others;
    }
    return this.read(i, n, o);
  }

  private unpack(): readonly EntityUpdate[] {
    this.checkHeld();
    const out: EntityUpdate[] = new Array<EntityUpdate>(this.size);
    let n = this.number;
    let o = this.other;
    for (let i = 0; i < this.size; i++) {
      out[i] = this.read(i, n, o);
      const shape = this.shapeAt(i);
      if (shape === undefined) continue;
      n += shape.numbers;
      o += shape.others;
    }
    return out;
  }

  /** The history keeps what its replica still holds; a frame it let go of must not read what replaced it. */
  private checkHeld(): void {
    if (this.update < this.#history.ids.tail) throw new Error(`packed frame ${this.id} is no longer held`);
  }

  /** Update `i`, whose numbers start at position `n` and other values at `o`. */
  private read(i: number, n: number, o: number): EntityUpdate {
    const ref = this.#history.refs.at(this.update + i);
    if (!(ref instanceof FieldShape)) return ref;
    const fields: EntityFields = {};
    const { names, numeric } = ref;
    const { numbers, others } = this.#history;
    for (let k = 0; k < names.length; k++) {
      fields[names[k]!] = numeric[k] ? numbers.at(n++) : (others.at(o++) as FieldValue);
    }
    return { id: this.idAt(i), typeName: ref.typeName, fields };
  }
}
