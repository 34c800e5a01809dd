import {
  emptyWorldSnapshot,
  recoverWorldSnapshot,
  type EmitterExport,
  type WorldLogRecord,
  type WorldSnapshot,
} from '@p3/engine';
import type { LogEntry } from './ports/room-log.js';
import type { StoredSnapshot } from './ports/snapshot-store.js';

/** A member of a ticked room at rest: who holds which connection (a restarted room lets them resume it). */
export interface MemberRecord {
  readonly clientId: string;
  readonly connectionId: string;
  readonly user?: string;
  readonly team?: string;
}

/** A member that left, in a log record. */
export interface MemberGone {
  readonly clientId: string;
  readonly gone: true;
}

/**
 * A ticked room at rest (the `data` of its stored snapshot): the world, its members and the per-client sequence
 * state (seed 001) that acks were given from, so that after a restart duplicates are still dropped and
 * `welcome.lastSeq` is what was acknowledged.
 */
export interface TickedRoomSnapshot {
  readonly format: 'p3.room/1';
  readonly world: WorldSnapshot;
  readonly members: readonly MemberRecord[];
  readonly sequences: ReadonlyArray<readonly [emitter: string, state: EmitterExport]>;
  /**
   * Wall-clock ms when this state was current: a restarted room continues its frame clock from here, so frame ids
   * issued before a crash (and not in any record) are never issued again. 0 when unknown.
   */
  readonly wallMs: number;
  /**
   * Snapshots written before rooms were scoped by team: the team that owned the room (its first authenticated
   * member's). Read only to let that team's scoped room continue it (see RoomHost); no longer written.
   */
  readonly team?: string;
}

/** What one step of a ticked room appended to its log: the world's changes plus members and sequences. */
export interface TickedRoomLogRecord {
  readonly world: WorldLogRecord;
  readonly members?: ReadonlyArray<MemberRecord | MemberGone>;
  /** Sequence state of the clients heard from since the previous record; null: forgotten. */
  readonly sequences?: ReadonlyArray<readonly [emitter: string, state: EmitterExport | null]>;
  /** Records written before rooms were scoped by team: the room's owning team (read, no longer written). */
  readonly team?: string;
  readonly wallMs: number;
}

/** The room state a stored snapshot holds (snapshots of earlier versions held the world alone), or null. */
export function tickedRoomSnapshotOf(stored: StoredSnapshot | null): TickedRoomSnapshot | null {
  if (stored === null || stored.kind !== 'world') return null;
  const data = stored.data as Partial<TickedRoomSnapshot> & Partial<WorldSnapshot>;
  if (data.format === 'p3.room/1') {
    const room = data as TickedRoomSnapshot;
    return room.team !== undefined || stored.team === undefined ? room : { ...room, team: stored.team };
  }
  return {
    format: 'p3.room/1',
    world: data as WorldSnapshot,
    members: [],
    sequences: [],
    wallMs: 0,
    ...(stored.team === undefined ? {} : { team: stored.team }),
  };
}

/**
 * Recovery of a ticked room: its latest snapshot, then every log record after it, in order. Pure. Without a
 * snapshot the room starts from an empty world at `tickRate`.
 */
export function recoverTickedRoom(
  stored: StoredSnapshot | null,
  entries: readonly LogEntry[],
  tickRate: number,
): TickedRoomSnapshot {
  const base = tickedRoomSnapshotOf(stored) ?? {
    format: 'p3.room/1' as const,
    world: emptyWorldSnapshot(tickRate),
    members: [],
    sequences: [],
    wallMs: 0,
  };
  const records = entries
    .filter((e) => e.version > base.world.frame)
    .map((e) => e.data as unknown as TickedRoomLogRecord);
  if (records.length === 0) return base;
  const members = new Map(base.members.map((m) => [m.clientId, m]));
  const sequences = new Map<string, EmitterExport>(base.sequences);
  let team = base.team;
  for (const record of records) {
    for (const m of record.members ?? []) {
      if ('gone' in m) members.delete(m.clientId);
      else members.set(m.clientId, m);
    }
    for (const [emitter, state] of record.sequences ?? []) {
      // Re-inserted at the end: the map's order is the order clients were last heard from (eviction order).
      sequences.delete(emitter);
      if (state !== null) sequences.set(emitter, state);
    }
    team = record.team ?? team;
  }
  return {
    format: 'p3.room/1',
    world: recoverWorldSnapshot(
      base.world,
      records.map((r) => r.world),
    ),
    members: [...members.values()],
    sequences: [...sequences],
    wallMs: records[records.length - 1]!.wallMs,
    ...(team === undefined ? {} : { team }),
  };
}

/**
 * The frame a restarted room continues at. Frames are issued on a clock, also when nothing changes (and then
 * nothing is logged), and a crash loses the frames after the last durable record: continuing at the elapsed
 * wall-clock time since the recovered state (plus a second of margin, against a wall clock stepped back) keeps
 * every frame id issued before the crash from being issued again, and keeps the room's timeline continuous.
 */
export function resumeFrame(state: TickedRoomSnapshot, wallNow: number, tickRate: number): number {
  const margin = Math.ceil(tickRate);
  const elapsed = state.wallMs > 0 ? Math.max(0, wallNow - state.wallMs) : 0;
  return state.world.frame + Math.ceil((elapsed * tickRate) / 1000) + margin;
}
