import type { Patch, Result } from '@p3/protocol';
import type { Principal } from '../room-service.js';

/** One object of a bootstrap: a key's data (fields plus `_exists`) and the version of each field. */
export interface BootstrapObject {
  readonly key: string;
  readonly data: Record<string, unknown>;
  readonly versions: Record<string, number>;
  readonly cleared?: true;
}

/** A bootstrap answer: the room's state at `version` (or what changed after `since`), all of it durable. */
export interface DocumentBootstrap {
  readonly version: number;
  /** False: `objects` are what changed after `since` (tombstones and re-creations included). */
  readonly full: boolean;
  readonly since?: number;
  /** Why a delta was asked and the full state given (`since` older than the retained tombstones). */
  readonly reason?: string;
  readonly objects: readonly BootstrapObject[];
}

/** One durable change of a document room, as a change stream sends it. */
export interface DocumentChangeEvent {
  readonly version: number;
  /** Who sent it: a socket's client id, or the origin of an HTTP change. */
  readonly clientId: string;
  readonly patches: readonly Patch[];
}

/** A live feed of a document room's durable changes (server-sent events). */
export interface DocumentFeed {
  /** The room's version when the feed opened. */
  readonly version: number;
  /**
   * Each durable change from now on, in version order; `onEnd` when the room closes, fails or moves (the client
   * resumes with its last version). Returns the unsubscribe function.
   */
  subscribe(onChange: (change: DocumentChangeEvent) => void, onEnd: () => void): () => void;
  /** The room's diff since `from` and the version it brings the client to, once that version is durable. */
  catchUp(from: number): Promise<{ readonly version: number; readonly patches: readonly Patch[] }>;
}

/**
 * What the seed-002 HTTP API needs of document rooms, wherever they run: in this process (LocalDocumentApi over
 * DocumentRooms) or on the simulator that owns the room (the gateway's RemoteDocumentApi across the bus). Every
 * answer shows only durable state: a client never holds a version a crash could take back.
 */
export interface DocumentApi {
  /** The caller's room (team-scoped): every live object, or what changed after `since`. */
  bootstrap(
    roomId: string,
    principal: Principal | undefined,
    since: number | undefined,
  ): Promise<Result<DocumentBootstrap>>;
  /** Applies patches last-write-wins as `origin`; resolves with the room's version once they are durable. */
  change(
    roomId: string,
    principal: Principal | undefined,
    patches: readonly Patch[],
    origin: string,
  ): Promise<Result<{ readonly version: number }>>;
  follow(roomId: string, principal: Principal | undefined): Promise<Result<DocumentFeed>>;
}
