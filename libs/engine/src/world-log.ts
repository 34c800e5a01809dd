import type { ConnectionInfo } from './world-definition.js';
import { applyStoreLogChanges, type StoreLogBatch, type StoreLogChange } from './store-log.js';
import {
  storeSnapshotOf,
  worldSnapshotOf,
  type PendingCommand,
  type WorldSnapshot,
} from './world-snapshot.js';

/** A connection in a log record: `[id, firstSeen, lastSeen]` as it is now, or `[id]` when it left. */
export type LoggedConnection =
  readonly [id: string, firstSeen: number, lastSeen: number] | readonly [id: string];

/**
 * What one step changed in a world, for a durable log (`World.takeLogRecord`): a physical redo record (the
 * resulting values, not the inputs), so recovery never re-runs world logic and needs no determinism of it.
 * Applied in order after a snapshot (`recoverWorldSnapshot`), records rebuild the world exactly.
 */
export interface WorldLogRecord {
  /** The world's frame after the step. */
  readonly frame: number;
  /** The store's prune horizon. */
  readonly horizon: number;
  /** Entity changes (internal fields included); `Fields` changes were written at `frame`. */
  readonly entities: readonly StoreLogChange[];
  /** Connections that joined, left or were seen, as they are now. */
  readonly connections?: readonly LoggedConnection[];
  /** True when `connections` is the whole list (after a rewind), replacing what was there. */
  readonly connectionsWhole?: true;
  /** Commands accepted since the previous record for frames after `frame`, in application order. */
  readonly pending?: readonly PendingCommand[];
}

/**
 * Recovery of a world: the snapshot, then the log records after it, applied in order. Pure. Records at or below
 * the snapshot's frame are ignored (the snapshot already holds them); a pending command survives only while its
 * frame is still ahead of the recovered frame (once passed, its effect is in the records).
 */
export function recoverWorldSnapshot(base: WorldSnapshot, records: readonly WorldLogRecord[]): WorldSnapshot {
  const after = records.filter((r) => r.frame > base.frame);
  if (after.length === 0) return base;
  const batches: StoreLogBatch[] = [];
  let horizon = base.horizon;
  const connections = new Map<string, ConnectionInfo>(
    base.connections.map((c) => [c.id, { id: c.id, firstSeen: c.firstSeen, lastSeen: c.lastSeen }]),
  );
  // By arrival order: a command scheduled before the snapshot is listed again by the next record.
  const pending = new Map<number, PendingCommand>((base.pending ?? []).map((c) => [c.order, c]));
  for (const record of after) {
    batches.push({ version: record.frame, changes: record.entities });
    horizon = Math.max(horizon, record.horizon);
    if (record.connectionsWhole) connections.clear();
    for (const [id, firstSeen, lastSeen] of record.connections ?? []) {
      if (firstSeen === undefined) connections.delete(id);
      else connections.set(id, { id, firstSeen, lastSeen: lastSeen ?? firstSeen });
    }
    for (const [order, command] of pending) if (command.frame <= record.frame) pending.delete(order);
    for (const command of record.pending ?? []) pending.set(command.order, command);
  }
  const frame = after[after.length - 1]!.frame;
  const raw = applyStoreLogChanges(storeSnapshotOf(base), batches, horizon);
  return worldSnapshotOf(raw, {
    frame,
    tickRate: base.tickRate,
    connections: [...connections.values()],
    // Buffered frames of the snapshot are older than the records: a recovered world starts without a history.
    frames: [],
    pending: [...pending.values()]
      .filter((command) => command.frame > frame)
      .sort((a, b) => a.frame - b.frame || a.order - b.order),
  });
}

/** The snapshot of a world that never ran (recovery of a room with a log but no snapshot yet). */
export function emptyWorldSnapshot(tickRate: number): WorldSnapshot {
  return {
    format: 'p3.world/1',
    frame: 0,
    tickRate,
    entities: [],
    connections: [],
    frames: [],
    tombstones: [],
    horizon: 0,
  };
}
