import {
  CloseCode,
  decodeEcsSyncClientMessage,
  defaultEcsSyncCodecLimits,
  ECS_SYNC_PROTOCOL_VERSION,
  ErrorCode,
  P3Error,
  type CodecLimits,
  type EcsSyncServerMessage,
  type Patch,
  type PatchRequest,
  type ReconnectRequest,
} from '@p3/protocol';
import { FieldStore, type ChangesSince } from '@p3/engine';
import { applyDocumentPatches, nonEmptyPatches } from './documentPatches.js';
import { ChangeSubscribers, type DocumentChange } from './ChangeSubscribers.js';
import { DurableOutbox } from './DurableOutbox.js';
import { EphemeralState } from './EphemeralState.js';
import { errorResponse, salvageMessageId } from './errorResponse.js';
import { loadDocument } from './loadDocument.js';
import { buildReconnectDiff } from './reconnectDiff.js';
import { FilledIn, parseRoomSnapshot, toRoomSnapshot, toStoreSnapshot } from './roomSnapshot.js';
import { SaveScheduler } from './SaveScheduler.js';
import { closeSocket, refuseSocket, Session, type PendingSession } from './Session.js';
import { SessionRegistry } from './SessionRegistry.js';
import type { ChangeLog } from './storage/ChangeLog.js';
import { MemoryStorage } from './storage/MemoryStorage.js';
import type { SyncStorage } from './storage/SyncStorage.js';
import type { ConnectDecision, RoomSnapshot, SessionInfo, SessionRemovedInfo } from './types.js';
import type { WebSocketLike } from './WebSocketLike.js';
import { toWireData } from './wireData.js';

export interface RoomOptions {
  /** Start from this document instead of loading from storage. */
  initialSnapshot?: RoomSnapshot;
  /** Where the document is saved (throttled). Default: a new MemoryStorage. */
  storage?: SyncStorage;
  /**
   * A durable log of document changes: with it an ack means durable (SPEC.md [LOG-1]..[LOG-4]). Every applied
   * change is appended; nothing reflecting a change (ack, broadcast, reconnect reply, subscriber event) leaves the
   * room before it is durable; `load()` replays the log after the snapshot; a save truncates it. With
   * `initialSnapshot` the log is not read: the room starts from the snapshot. Without a log nothing waits.
   */
  log?: ChangeLog;
  /** Called after every message that changed the document (never for ephemeral-only messages). */
  onDataChange?: (room: Room) => void;
  /** Called after a session left (not when `close()` disconnects everyone). */
  onSessionRemoved?: (room: Room, info: SessionRemovedInfo) => void;
  /**
   * Authorization hook: `true` accepts; `false`, a reason string, a throw or a rejection refuses (the client
   * gets `{type:'error', code:'FORBIDDEN', reason}`, then the socket closes with 4102). Messages arriving while
   * an async decision is pending are handled after acceptance, in order.
   */
  onBeforeConnect?: (info: SessionInfo) => ConnectDecision | Promise<ConnectDecision>;
  /** At most one save per this many ms (default 10000); `flush()` and `close()` save at once. */
  saveThrottleMs?: number;
  /**
   * Tombstones (deleted keys) are kept for this many versions, then pruned when the room saves; a client or
   * `changesSince` older than that gets the full state. Default 100000.
   */
  tombstoneRetention?: number;
  /** Largest accepted client message (default 1 MiB); larger ones are refused with TOO_LARGE. */
  maxMessageBytes?: number;
  /** Receives storage failures, throwing callbacks and socket errors. Default: console.error. */
  onError?: (error: unknown, context: string) => void;
  /** Called when the last subscriber (see `subscribe`) leaves: a manager may close an idle room then. */
  onReleased?: (room: Room) => void;
  /**
   * Called once when the room failed because its log refused a change ([LOG-4]): it closed every socket (4005)
   * and itself. Its owner drops it (await `close()` first) and loads the room again from storage + log.
   */
  onFailed?: (room: Room, error: unknown) => void;
}

export type { DocumentChange } from './ChangeSubscribers.js';

/** Messages a connection may send before `onBeforeConnect` decides; more closes it (4001). */
const maxQueuedBeforeAccept = 256;

/**
 * One ecs-sync document and its connected sessions (seed 003): a patch router with per-field last-write-wins,
 * not a game server. Rules: SPEC.md of this package.
 *
 * @example
 * const room = new Room({ storage: new FileStorage({ dir: './data', roomId: 'doc' }) });
 * await room.load();
 * wss.on('connection', (ws) => room.handleSocketConnect({ sessionId: randomUUID(), socket: ws, clientId }));
 */
export class Room {
  private store = new FieldStore();
  /** What the loaded snapshot's shape left out (`_exists` of upstream snapshots): getSnapshot leaves it out too. */
  private filledIn: FilledIn | undefined;
  private readonly ephemeral = new EphemeralState();
  private readonly sessions = new SessionRegistry((session, text) => this.sendText(session, text));
  private readonly pending = new Map<string, PendingSession>();
  /**
   * Per session id, closes still to come from replaced sockets without `addEventListener` ([SYNC-15]): their owner
   * forwards them as `handleSocketClose(sessionId)`, which must not end the connection that replaced them.
   */
  private readonly staleCloses = new Map<string, number>();
  private readonly storage: SyncStorage;
  private readonly log: ChangeLog | undefined;
  /** With a log: the log, and what leaves the room, held until durable ([LOG-1]). */
  private outbox: DurableOutbox | undefined;
  private readonly saver: SaveScheduler;
  private readonly limits: CodecLimits;
  private readonly options: RoomOptions;
  private loading: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  /** Set when the log refused a change ([LOG-4]). */
  private failure: { error: unknown } | undefined;
  private readonly subscribers = new ChangeSubscribers(
    () => this.options.onReleased?.(this),
    (error, context) => this.report(error, context),
  );

  constructor(options: RoomOptions = {}) {
    this.options = options;
    const saveThrottleMs = options.saveThrottleMs ?? 10_000;
    if (!Number.isFinite(saveThrottleMs) || saveThrottleMs < 0)
      throw new RangeError('saveThrottleMs must be a number >= 0');
    const maxMessageBytes = options.maxMessageBytes ?? defaultEcsSyncCodecLimits.maxMessageBytes;
    if (!Number.isSafeInteger(maxMessageBytes) || maxMessageBytes < 1)
      throw new RangeError('maxMessageBytes must be a positive integer');
    this.limits = { ...defaultEcsSyncCodecLimits, maxMessageBytes };
    this.storage = options.storage ?? new MemoryStorage();
    this.log = options.log;
    const retention = options.tombstoneRetention ?? 100_000;
    this.saver = new SaveScheduler(
      async () => {
        if (this.store.version > retention) this.store.pruneTombstones(this.store.version - retention);
        const snapshot = this.getSnapshot();
        await this.storage.save(snapshot);
        await this.outbox?.truncate(snapshot.timestamp);
      },
      saveThrottleMs,
      (e) => this.report(e, 'save'),
    );
    if (options.initialSnapshot !== undefined) {
      const parsed = parseRoomSnapshot(options.initialSnapshot);
      this.filledIn = new FilledIn(parsed.timestamp);
      this.store = FieldStore.fromSnapshot(toStoreSnapshot(parsed, this.filledIn));
    }
    this.outbox = this.newOutbox();
  }

  /**
   * Loads the document from storage, then replays the changes the log holds after it ([LOG-2]). Once; a no-op
   * with `initialSnapshot`. Await it before connecting sockets.
   */
  load(): Promise<void> {
    this.loading ??= this.loadFromStorage().catch((error: unknown) => {
      this.loading = undefined;
      throw error;
    });
    return this.loading;
  }

  // ------------------------------------------------------------------------------------------------------------
  // Sockets

  /**
   * Hands a socket to the room. Resolves true once accepted, false when refused. Without an async
   * `onBeforeConnect` the session is live before this returns. A session id that is still connected (or waiting
   * for `onBeforeConnect`) is taken over ([SYNC-15]): the old socket, perhaps half-open, is closed with 4004
   * (`CloseCode.Replaced`), its session ends as if it had closed, and nothing queued for it reaches the new socket.
   */
  handleSocketConnect(connection: {
    sessionId: string;
    socket: WebSocketLike;
    clientId: string;
  }): Promise<boolean> {
    const { sessionId, socket, clientId } = connection;
    if (this.closing !== undefined) {
      closeSocket(socket, CloseCode.RoomClosed, 'room closed', this.report);
      return Promise.resolve(false);
    }
    this.replace(sessionId, socket);
    const waiting: PendingSession = { sessionId, clientId, socket, queue: [], closed: false };
    this.pending.set(sessionId, waiting);
    this.attachListeners(sessionId, socket);
    let decision: ConnectDecision | Promise<ConnectDecision>;
    try {
      decision = this.options.onBeforeConnect?.({ sessionId, clientId }) ?? true;
    } catch (error) {
      this.report(error, 'onBeforeConnect');
      decision = false;
    }
    if (!isPromiseLike(decision)) return Promise.resolve(this.decide(waiting, decision));
    return Promise.resolve(decision).then(
      (value) => this.decide(waiting, value),
      (error: unknown) => {
        this.report(error, 'onBeforeConnect');
        return this.decide(waiting, false);
      },
    );
  }

  /**
   * Manual forwarding for sockets without `addEventListener`. Never throws. Pass `socket` where a session id can be
   * reused by a new connection ([SYNC-15]): events of a socket that was replaced are then ignored.
   */
  handleSocketMessage(sessionId: string, data: unknown, socket?: WebSocketLike): void {
    if (socket !== undefined && !this.isCurrent(sessionId, socket)) return;
    const session = this.sessions.get(sessionId);
    if (session !== undefined) {
      this.receive(session, data);
      return;
    }
    const waiting = this.pending.get(sessionId);
    if (waiting === undefined) return;
    waiting.queue.push(data);
    if (waiting.queue.length > maxQueuedBeforeAccept) {
      waiting.closed = true;
      this.pending.delete(sessionId);
      closeSocket(
        waiting.socket,
        CloseCode.Backpressure,
        'too many messages before the connection was accepted',
        this.report,
      );
    }
  }

  /**
   * The socket of this session closed. Without `socket`, the first close forwarded after a replacement ([SYNC-15])
   * is taken as the replaced socket's and ignored; with it, only the current socket's close counts.
   */
  handleSocketClose(sessionId: string, socket?: WebSocketLike): void {
    if (socket !== undefined ? !this.isCurrent(sessionId, socket) : this.takeStaleClose(sessionId)) {
      if (socket !== undefined) this.takeStaleClose(sessionId);
      return;
    }
    this.endSession(sessionId);
  }

  /** A socket error ends its session (the socket is closed). With `socket`, errors of a replaced socket are ignored. */
  handleSocketError(sessionId: string, error: unknown, from?: WebSocketLike): void {
    const socket = this.currentSocket(sessionId);
    if (socket === undefined || (from !== undefined && from !== socket)) return;
    this.report(error, `socket of session ${sessionId}`);
    this.handleSocketClose(sessionId, socket);
    closeSocket(socket, CloseCode.Internal, 'socket error', this.report);
  }

  // ------------------------------------------------------------------------------------------------------------
  // State access

  /**
   * The document as the seed's serializable snapshot. Field values are shared with the room: do not mutate. A
   * snapshot the room was loaded from comes back in its own shape ([SNAP-2]): keys stored without `_exists` (the
   * upstream server's) stay without it until they change.
   */
  getSnapshot(): RoomSnapshot {
    return toRoomSnapshot(this.store.snapshot(), this.filledIn);
  }

  getSessionCount(): number {
    return this.sessions.size;
  }

  getSessions(): SessionInfo[] {
    return [...this.sessions.values()].map(({ sessionId, clientId }) => ({ sessionId, clientId }));
  }

  /** The room timestamp: the version of the last document change (durable or not yet: see `whenDurable`). */
  getVersion(): number {
    return this.store.version;
  }

  /**
   * Resolves once every change up to `timestamp` is durable in the log ([LOG-1]); at once without a log. Rejects
   * when the log refused one of them (the room failed: the change may not have been kept). For callers outside
   * sockets: answer `POST /changes` with version V only after `whenDurable(V)`.
   */
  whenDurable(timestamp: number): Promise<void> {
    return this.outbox?.whenDurable(timestamp) ?? Promise.resolve();
  }

  /** True once `close()` was called or the room failed: it takes no more changes nor connections. */
  isClosed(): boolean {
    return this.closing !== undefined;
  }

  /** Document changes after a timestamp (per changed key, the changed fields; tombstones; re-creations as `cleared`). */
  changesSince(timestamp: number): ChangesSince {
    return this.store.changesSince(timestamp);
  }

  /**
   * Applies document patches that did not come from a socket (e.g. `POST /changes`): one new timestamp, per-field
   * last-write-wins, broadcast to every session as a `patch` from `origin`. Returns the timestamp (unchanged when
   * every patch was empty). Patches must be validated (`validatePatch`) by the caller.
   */
  applyPatches(patches: readonly Patch[], origin: string): number {
    if (this.closing !== undefined) throw new P3Error(ErrorCode.Internal, 'room closed');
    const documentPatches = nonEmptyPatches(patches);
    if (documentPatches.length === 0) return this.store.version;
    this.applyChange(documentPatches);
    this.sessions.broadcastPatch({ documentPatches, clientId: origin }, this.store.version);
    this.documentChanged(origin, documentPatches);
    return this.store.version;
  }

  /**
   * What a client holding the document at `timestamp` needs, as patches (deletions first): the reconnect diff.
   * A timestamp the room cannot answer a delta for (pruned, or from another room lifetime) gives the full state.
   */
  diffSince(timestamp: number): Patch[] {
    return buildReconnectDiff(this.store, timestamp);
  }

  /**
   * Listens to every document change (server-sent events), each once durable with a log ([LOG-1]); returns the
   * unsubscribe function. `onClose` runs when the room closes or fails (end the stream: the client resumes).
   */
  subscribe(listener: (change: DocumentChange) => void, onClose?: () => void): () => void {
    if (this.closing !== undefined) {
      // A closed room never delivers: end the subscription at once (after the caller got its unsubscribe).
      const ended = new ChangeSubscribers(() => undefined, this.report);
      ended.add(listener, onClose);
      queueMicrotask(() => ended.endAll());
      return () => undefined;
    }
    return this.subscribers.add(listener, onClose);
  }

  getSubscriberCount(): number {
    return this.subscribers.size;
  }

  /** Saves now if anything is unsaved. Rejects when the save fails (the error is also reported). */
  flush(): Promise<void> {
    return this.saver.flush().catch((error: unknown) => {
      this.report(error, 'save');
      throw error;
    });
  }

  /**
   * Disconnects every session (close code 4003, clients reconnect) and saves what is unsaved. Later connections
   * are refused. With a log, what was applied is first made durable and delivered (acks reach their sockets).
   * Resolves even when the final save fails (reported to `onError`; `flush()` first to know).
   */
  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  // ------------------------------------------------------------------------------------------------------------
  // Protocol

  private receive(session: Session, data: unknown): void {
    try {
      const wire = toWireData(data);
      if (wire === undefined) {
        this.send(session, errorResponse(new P3Error(ErrorCode.Malformed, 'message must be text or bytes')));
        return;
      }
      const decoded = decodeEcsSyncClientMessage(wire, this.limits);
      if (!decoded.ok) {
        this.send(session, errorResponse(decoded.error, salvageMessageId(wire, this.limits)));
        return;
      }
      if (decoded.value.type === 'patch') this.handlePatch(session, decoded.value);
      else this.handleReconnect(session, decoded.value);
    } catch (error) {
      this.report(error, 'message');
      this.send(session, errorResponse(new P3Error(ErrorCode.Internal, 'internal error')));
    }
  }

  private handlePatch(session: Session, message: PatchRequest): void {
    const changed = this.applyClientPatches(session, message.documentPatches, message.ephemeralPatches);
    this.send(session, { type: 'ack', messageId: message.messageId, timestamp: this.store.version });
    if (changed.length > 0) this.documentChanged(session.clientId, changed);
  }

  private handleReconnect(session: Session, message: ReconnectRequest): void {
    if (message.protocolVersion !== undefined && message.protocolVersion !== ECS_SYNC_PROTOCOL_VERSION) {
      this.send(session, { type: 'version-mismatch', serverProtocolVersion: ECS_SYNC_PROTOCOL_VERSION });
      return;
    }
    const changed = this.applyClientPatches(session, message.documentPatches, message.ephemeralPatches);
    const documentPatches = buildReconnectDiff(this.store, message.lastTimestamp);
    const others = this.ephemeral.mergedExcept(session.clientId);
    session.synced = true;
    this.send(session, {
      type: 'patch',
      ...(documentPatches.length > 0 ? { documentPatches } : {}),
      ...(others !== undefined ? { ephemeralPatches: [others] } : {}),
      clientId: '',
      timestamp: this.store.version,
    });
    if (changed.length > 0) this.documentChanged(session.clientId, changed);
  }

  /** Applies a client's patches and broadcasts their non-empty parts to the other sessions. Returns the applied document patches. */
  private applyClientPatches(
    session: Session,
    document: Patch[] | undefined,
    ephemeral: Patch[] | undefined,
  ): Patch[] {
    const documentPatches = nonEmptyPatches(document);
    const ephemeralPatches = nonEmptyPatches(ephemeral);
    this.applyChange(documentPatches);
    if (ephemeralPatches.length > 0) this.ephemeral.apply(session.clientId, ephemeralPatches);
    if (documentPatches.length > 0 || ephemeralPatches.length > 0) {
      this.sessions.broadcastPatch(
        {
          ...(documentPatches.length > 0 ? { documentPatches } : {}),
          ...(ephemeralPatches.length > 0 ? { ephemeralPatches } : {}),
          clientId: session.clientId,
        },
        this.store.version,
        session,
      );
    }
    return documentPatches;
  }

  /** Applies document patches at one new timestamp and, with a log, appends them ([LOG-1]). */
  private applyChange(documentPatches: Patch[]): void {
    if (documentPatches.length === 0) return;
    const timestamp = applyDocumentPatches(this.store, documentPatches);
    this.outbox?.append(timestamp, documentPatches);
  }

  private documentChanged(clientId: string, documentPatches: readonly Patch[]): void {
    try {
      this.options.onDataChange?.(this);
    } catch (error) {
      this.report(error, 'onDataChange');
    }
    this.saver.markDirty();
    const change: DocumentChange = { timestamp: this.store.version, clientId, documentPatches };
    if (this.subscribers.size > 0) this.emit(this.subscribers.deliveryOf(change));
  }

  // ------------------------------------------------------------------------------------------------------------
  // Output: at once, or with a log through the outbox, in order, once the state it reflects is durable ([LOG-1])

  private send(session: Session, message: EcsSyncServerMessage): void {
    this.sendText(session, JSON.stringify(message));
  }

  private sendText(session: Session, text: string): void {
    if (this.outbox === undefined) session.sendText(text);
    else
      this.outbox.post(this.store.version, () => {
        if (this.sessions.get(session.sessionId) === session) session.sendText(text);
      });
  }

  private emit(deliver: () => void): void {
    if (this.outbox === undefined) deliver();
    else this.outbox.post(this.store.version, deliver);
  }

  private newOutbox(): DurableOutbox | undefined {
    if (this.log === undefined) return undefined;
    return new DurableOutbox(this.log, this.store.version, (error) => this.fail(error), this.report);
  }

  // ------------------------------------------------------------------------------------------------------------
  // Sessions

  private decide(waiting: PendingSession, decision: ConnectDecision): boolean {
    if (this.pending.get(waiting.sessionId) === waiting) this.pending.delete(waiting.sessionId);
    if (waiting.closed) return false;
    if (this.closing !== undefined) {
      closeSocket(waiting.socket, CloseCode.RoomClosed, 'room closed', this.report);
      return false;
    }
    if (decision !== true) {
      const reason = typeof decision === 'string' && decision.length > 0 ? decision : 'connection refused';
      refuseSocket(waiting.socket, ErrorCode.Forbidden, reason, CloseCode.Forbidden, this.report);
      return false;
    }
    const session = new Session(waiting.sessionId, waiting.clientId, waiting.socket, this.report);
    this.sessions.add(session);
    this.sessions.broadcastClientCount();
    const others = this.ephemeral.mergedExcept(session.clientId);
    // Timestamp 0, not the room's: the newcomer has not received its reconnect diff yet (see Session.synced).
    if (others !== undefined)
      this.send(session, { type: 'patch', ephemeralPatches: [others], clientId: '', timestamp: 0 });
    for (const data of waiting.queue.splice(0)) {
      if (this.sessions.get(session.sessionId) !== session) break;
      this.receive(session, data);
    }
    return true;
  }

  private removeSession(session: Session): void {
    const wasLast = this.sessions.remove(session);
    if (wasLast === undefined) return;
    if (wasLast) {
      const deletion = this.ephemeral.remove(session.clientId);
      if (deletion !== undefined) {
        this.sessions.broadcastPatch(
          { ephemeralPatches: [deletion], clientId: session.clientId },
          this.store.version,
        );
      }
    }
    this.sessions.broadcastClientCount();
    try {
      this.options.onSessionRemoved?.(this, { sessionId: session.sessionId, remaining: this.sessions.size });
    } catch (error) {
      this.report(error, 'onSessionRemoved');
    }
  }

  private attachListeners(sessionId: string, socket: WebSocketLike): void {
    if (typeof socket.addEventListener !== 'function') return;
    // Events are routed by socket identity: a stale socket never reaches a later session with the same id.
    socket.addEventListener('message', (event) => this.handleSocketMessage(sessionId, event.data, socket));
    socket.addEventListener('close', () => this.handleSocketClose(sessionId, socket));
    socket.addEventListener('error', (error) => this.handleSocketError(sessionId, error, socket));
  }

  /** The socket that holds this session id now (accepted or waiting for `onBeforeConnect`). */
  private currentSocket(sessionId: string): WebSocketLike | undefined {
    return this.sessions.get(sessionId)?.socket ?? this.pending.get(sessionId)?.socket;
  }

  private isCurrent(sessionId: string, socket: WebSocketLike): boolean {
    return this.currentSocket(sessionId) === socket;
  }

  /**
   * [SYNC-15] `socket` takes over a session id that is still connected: the old session ends as if its socket had
   * closed (clientCount, ephemeral cleanup, `onSessionRemoved`), then the old socket is closed with 4004. Its
   * queued output stays behind: the outbox delivers only to the Session object it was posted for.
   */
  /** Ends a session as its socket's close does: a join still waiting is abandoned, a joined session removed. */
  private endSession(sessionId: string): void {
    const waiting = this.pending.get(sessionId);
    if (waiting !== undefined) {
      waiting.closed = true;
      this.pending.delete(sessionId);
    }
    const session = this.sessions.get(sessionId);
    if (session !== undefined) this.removeSession(session);
  }

  private replace(sessionId: string, socket: WebSocketLike): void {
    const previous = this.currentSocket(sessionId);
    if (previous === undefined || previous === socket) return;
    this.endSession(sessionId);
    if (typeof previous.addEventListener !== 'function')
      this.staleCloses.set(sessionId, (this.staleCloses.get(sessionId) ?? 0) + 1);
    closeSocket(
      previous,
      CloseCode.Replaced,
      'replaced by a new connection with this session id',
      this.report,
    );
  }

  /** True (and one fewer expected) when a replaced socket of this session id still owed its close. */
  private takeStaleClose(sessionId: string): boolean {
    const owed = this.staleCloses.get(sessionId);
    if (owed === undefined) return false;
    if (owed > 1) this.staleCloses.set(sessionId, owed - 1);
    else this.staleCloses.delete(sessionId);
    return true;
  }

  // ------------------------------------------------------------------------------------------------------------
  // Lifecycle

  private async loadFromStorage(): Promise<void> {
    if (this.options.initialSnapshot !== undefined) return;
    const loaded = await loadDocument(this.storage, this.log);
    if (loaded === undefined) return;
    if (this.store.version > 0 || this.sessions.size > 0)
      throw new Error('Room.load() must complete before the room is used');
    this.store = loaded.store;
    this.filledIn = loaded.filledIn;
    // Everything loaded is durable: storage and log hold it.
    this.outbox = this.newOutbox();
  }

  private async shutDown(): Promise<void> {
    // [LOG-1] What was applied becomes durable and reaches its sockets (acks included) before they close.
    const outbox = this.outbox;
    if (outbox !== undefined) while (outbox.busy) await outbox.idle();
    if (this.failure !== undefined) {
      // [LOG-4] No final save; a running one finishes first, so that the next load reads what it wrote.
      await this.saver.stop();
      return;
    }
    this.detachAll(CloseCode.RoomClosed, 'room closed');
    await this.saver.flush().catch((error: unknown) => this.report(error, 'final save'));
  }

  /**
   * The log refused a change ([LOG-4]). The room no longer knows what is durable, so it behaves like a crash of
   * this room alone: the outbox dropped everything it held (no ack, broadcast or event of a change that may be
   * lost leaves), every socket closes with 4005 (transient: clients reconnect, resend what was not acked and get
   * a diff), subscribers are told, and the room closes without saving (its memory holds changes the log did not
   * keep). `onFailed` lets its owner drop it; the next load reads storage + log again, after `close()` resolved
   * (pending appends and a running save settled), so it never races this room's last writes.
   */
  private fail(error: unknown): void {
    if (this.failure !== undefined) return;
    this.failure = { error };
    this.report(error, 'log');
    void this.saver.stop();
    this.detachAll(CloseCode.Internal, 'change log failed');
    this.closing ??= this.shutDown();
    try {
      this.options.onFailed?.(this, error);
    } catch (e) {
      this.report(e, 'onFailed');
    }
  }

  /** Forgets every session and subscriber, closing their sockets with `code` and ending subscriptions. */
  private detachAll(code: number, reason: string): void {
    const sockets = [...this.pending.values(), ...this.sessions.values()].map((s) => s.socket);
    for (const waiting of this.pending.values()) waiting.closed = true;
    this.pending.clear();
    this.sessions.clear();
    this.ephemeral.clear();
    for (const socket of sockets) closeSocket(socket, code, reason, this.report);
    this.subscribers.endAll();
  }

  private readonly report = (error: unknown, context: string): void => {
    try {
      if (this.options.onError !== undefined) this.options.onError(error, context);
      else console.error(`[ecs-sync-server] ${context}:`, error);
    } catch {
      // A throwing error sink must not take the room down.
    }
  };
}

function isPromiseLike<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}
