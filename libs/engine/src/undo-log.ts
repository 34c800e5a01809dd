import type { FieldValue } from '@p3/protocol';

/** What one undo step restores. */
export const UndoKind = {
  /** The store's version before the session. */
  Store: 0,
  /** A cell that did not exist: delete it. */
  CellAbsent: 1,
  /** A cell's previous value (a number, kept unboxed) and version. */
  CellNumber: 2,
  /** A cell's previous value (anything but a number) and version. */
  CellValue: 3,
  /** A key that did not exist: remove its entry. */
  EntryAbsent: 4,
  /** A key's previous clearedAt and maxVersion. */
  EntryBounds: 5,
  /** An arbitrary step: `revert(target, number)`. */
  Revert: 6,
} as const;
export type UndoKind = (typeof UndoKind)[keyof typeof UndoKind];

/** A revert step without a closure: a shared function, the object it restores and one number. */
export type RevertStep<T> = (target: T, n: number) => void;

/**
 * The undo steps of one recording session (one tick), in parallel columns that are reused when the log is
 * cleared. Each frame of the rollback window keeps one log: an object per field write, kept for the whole window,
 * was the largest allocation of the tick and the bulk of what the young generation had to copy and promote.
 * Numbers go to a Float64Array so that old values are not kept alive as boxed heap numbers either.
 * Columns a step does not use keep stale data from earlier sessions; it is never read, and bounded by the
 * largest session the log has held.
 */
export class UndoLog {
  private count = 0;
  private kinds = new Uint8Array(16);
  private nums = new Float64Array(16);
  private nums2 = new Float64Array(16);
  private readonly keys: string[] = [];
  private readonly fields: string[] = [];
  private readonly values: unknown[] = [];
  private readonly reverts: Array<RevertStep<unknown>> = [];

  get length(): number {
    return this.count;
  }

  clear(): void {
    this.count = 0;
  }

  kind(i: number): UndoKind {
    return this.kinds[i] as UndoKind;
  }

  key(i: number): string {
    return this.keys[i] as string;
  }

  field(i: number): string {
    return this.fields[i] as string;
  }

  /** The previous value of a cell step. */
  value(i: number): FieldValue {
    return this.kinds[i] === UndoKind.CellNumber ? (this.nums[i] as number) : (this.values[i] as FieldValue);
  }

  /** Previous version (store), previous clearedAt (entry bounds), the number of a revert. */
  num(i: number): number {
    return this.nums[i] as number;
  }

  /** Version (cell steps), previous maxVersion (entry bounds). */
  num2(i: number): number {
    return this.nums2[i] as number;
  }

  /** Runs a Revert step. */
  revert(i: number): void {
    (this.reverts[i] as RevertStep<unknown>)(this.values[i], this.nums[i] as number);
  }

  pushStore(prevVersion: number): void {
    this.nums[this.next(UndoKind.Store)] = prevVersion;
  }

  pushCellAbsent(key: string, field: string): void {
    const i = this.next(UndoKind.CellAbsent);
    this.keys[i] = key;
    this.fields[i] = field;
  }

  pushCell(key: string, field: string, value: FieldValue, version: number): void {
    const numeric = typeof value === 'number';
    const i = this.next(numeric ? UndoKind.CellNumber : UndoKind.CellValue);
    this.keys[i] = key;
    this.fields[i] = field;
    if (numeric) this.nums[i] = value;
    else this.values[i] = value;
    this.nums2[i] = version;
  }

  pushEntryAbsent(key: string): void {
    this.keys[this.next(UndoKind.EntryAbsent)] = key;
  }

  pushEntryBounds(key: string, clearedAt: number, maxVersion: number): void {
    const i = this.next(UndoKind.EntryBounds);
    this.keys[i] = key;
    this.nums[i] = clearedAt;
    this.nums2[i] = maxVersion;
  }

  pushRevert<T>(revert: RevertStep<T>, target: T, n: number): void {
    const i = this.next(UndoKind.Revert);
    this.reverts[i] = revert as RevertStep<unknown>;
    this.values[i] = target;
    this.nums[i] = n;
  }

  private next(kind: UndoKind): number {
    const i = this.count++;
    if (i === this.kinds.length) this.grow();
    this.kinds[i] = kind;
    return i;
  }

  private grow(): void {
    const size = this.kinds.length * 2;
    const kinds = new Uint8Array(size);
    kinds.set(this.kinds);
    this.kinds = kinds;
    const nums = new Float64Array(size);
    nums.set(this.nums);
    this.nums = nums;
    const nums2 = new Float64Array(size);
    nums2.set(this.nums2);
    this.nums2 = nums2;
  }
}
