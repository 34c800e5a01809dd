import type { RoomKey } from '../ports/snapshot-store.js';

/**
 * Helpers the in-process room logs share (memory, and the file log's index): a room's records are kept sorted by
 * version, so `read(after)` is a binary search and `truncate(through)` drops a prefix.
 */

/** The map key of a room: NUL cannot occur in a tenant id, so `a`+`b\0c` and `a\0b`+`c` stay apart. */
export const roomMapKey = (key: RoomKey): string => `${key.tenant}\u0000${key.room}`;

/**
 * Refuses a version, `after` or `through` that every implementation could not keep exactly: Postgres stores
 * bigint, and JSON keeps integers exact only up to 2^53. Checking in every adapter keeps them interchangeable.
 */
export function checkLogVersion(value: number, what: string): void {
  if (!Number.isSafeInteger(value))
    throw new RangeError(`room log ${what} must be a safe integer, got ${value}`);
}

/** The index of the first item whose version is above `version`, in items sorted by version. */
export function firstAbove(items: readonly { readonly version: number }[], version: number): number {
  let low = 0;
  let high = items.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((items[middle] as { readonly version: number }).version > version) high = middle;
    else low = middle + 1;
  }
  return low;
}

/**
 * Inserts `item` at its version, replacing an item of the same version (a retried append wins, as Postgres's
 * upsert does). Returns the replaced item, if any. Appends come in version order, so the common case is a push.
 */
export function upsertByVersion<T extends { readonly version: number }>(items: T[], item: T): T | undefined {
  const last = items[items.length - 1];
  if (last === undefined || item.version > last.version) {
    items.push(item);
    return undefined;
  }
  const at = firstAbove(items, item.version - 1);
  const found = items[at];
  if (found !== undefined && found.version === item.version) {
    items[at] = item;
    return found;
  }
  items.splice(at, 0, item);
  return undefined;
}

/** Removes the items with a version up to `through` (a prefix) and returns them. */
export function dropThrough<T extends { readonly version: number }>(items: T[], through: number): T[] {
  return items.splice(0, firstAbove(items, through));
}
