import type { ComponentData } from '@p3/protocol';

export type {
  AckResponse,
  ClientCountBroadcast,
  ComponentData,
  EcsSyncClientMessage,
  EcsSyncErrorResponse,
  EcsSyncServerMessage,
  Patch,
  PatchBroadcast,
  PatchRequest,
  ReconnectRequest,
  VersionMismatchResponse,
} from '@p3/protocol';

/**
 * Serializable document state of a room (seed 003). Ephemeral state is never part of it.
 *
 * - `timestamp`: the room's monotonic version; every message that changed the document advanced it by one.
 * - `state`: key (`<stableId>/<component>` or `SINGLETON/<name>`) -> component data, with `_exists: true`
 *   for live keys and `{ _exists: false }` for deleted ones (kept so a reconnect diff can still report the
 *   deletion after a restart).
 * - `timestamps`: key -> field -> the timestamp that last wrote it (`_exists` included).
 * - `clearedAt` (P3 extension, optional): for keys deleted and later re-created, the timestamp of the deletion,
 *   so that a client that was offline across the re-creation drops the key's old fields after a restart too.
 *   Snapshots without it (older servers) load fine; see the README's limitations.
 */
export interface RoomSnapshot {
  readonly timestamp: number;
  readonly state: Readonly<Record<string, ComponentData>>;
  readonly timestamps: Readonly<Record<string, Readonly<Record<string, number>>>>;
  readonly clearedAt?: Readonly<Record<string, number>>;
  /** P3 extension: tombstones deleted before this version were pruned (older diffs answer the full state). */
  readonly horizon?: number;
}

/** One connected socket of a room. A client (browser profile) may hold several sessions (tabs). */
export interface SessionInfo {
  readonly sessionId: string;
  readonly clientId: string;
}

/** What `onSessionRemoved` learns about a session that left. */
export interface SessionRemovedInfo {
  readonly sessionId: string;
  /** Sessions still connected after this one left. */
  readonly remaining: number;
}

/** `true` accepts a connection; `false` or a reason string refuses it. */
export type ConnectDecision = boolean | string;
