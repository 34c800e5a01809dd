import { ErrorCode, P3Error, type JsonValue } from '@p3/protocol';
import type { Room, WebSocketLike } from '@p3/ecs-sync-server';
import {
  DocumentRooms,
  decodeRoomInputBatch,
  documentBootstrap,
  roomFeed,
  roomInput,
  type Bus,
  type BusSubscription,
  type Cancel,
  type DocumentCall,
  type JoinCommand,
  type RoomKey,
  type RoomLog,
  type Scheduler,
  type SnapshotStore,
} from '@p3/runtime';
import type { Logger } from 'pino';
import type { ClusterRoomOutput } from './cluster-room-output.js';
import { endMissing } from './end-missing.js';

/** A document room this simulator owns: its epoch, input subscription and the sockets (attachments) in it. */
interface OwnedDocument {
  readonly key: RoomKey;
  /** The DocumentRooms id: the key's room without `doc/` (already team-scoped). */
  readonly id: string;
  readonly epoch: number;
  readonly input: BusSubscription;
  /** The sockets in the room: attachment -> the gateway holding it. */
  readonly attachments: Map<string, string>;
  /** Sockets missing from their gateway's last roster (see endMissing). */
  readonly missing: Map<string, number>;
  /** Gateways following the room's changes (their SSE streams), and the room subscription that feeds them. */
  readonly followers: Set<string>;
  unsubscribe: (() => void) | undefined;
  idleTimer: Cancel | undefined;
}

export interface ClusterDocumentsOptions {
  readonly tenant: string;
  readonly bus: Bus;
  readonly output: ClusterRoomOutput;
  readonly store: SnapshotStore;
  readonly log?: RoomLog;
  readonly scheduler: Scheduler;
  readonly logger: Logger;
  /** A document room with no socket for this long is saved, closed and its lease released. Default 30 s. */
  readonly idleTimeoutMs?: number;
  /** The room's lease is no longer needed (idle close done). */
  readonly release: (key: RoomKey) => void;
  /** Replies to a gateway: the room's owner does not know these attachments. */
  readonly detached: (gateway: string, key: RoomKey, attachments: readonly string[]) => void;
}

/** Whether a room key names a document room (`doc/<id>`), which ClusterDocuments hosts, not the RoomHost. */
export function isDocumentKey(key: RoomKey): boolean {
  return key.room.startsWith('doc/');
}

/**
 * The document rooms (seed 003 ecs-sync) a cluster simulator owns: the same DocumentRooms as the single-process
 * server (the room log before every ack, snapshots with the owner's epoch), with each gateway socket standing in
 * as a WebSocketLike whose `send`/`close` become items of the room's sequenced output addressed to the socket's
 * attachment. Socket messages and closes come from `roomInput(key)`.
 */
export class ClusterDocuments {
  private readonly rooms: DocumentRooms;
  private readonly owned = new Map<string, OwnedDocument>();

  constructor(private readonly options: ClusterDocumentsOptions) {
    this.rooms = new DocumentRooms({
      store: options.store,
      ...(options.log === undefined ? {} : { log: options.log }),
      tenant: options.tenant,
      logger: options.logger,
      // Our own idle close releases the lease too; the manager's would only unload the room.
      idleTimeoutMs: (options.idleTimeoutMs ?? 30_000) * 2,
      epochOf: (key) => this.owned.get(keyOf(key))?.epoch ?? 0,
    });
  }

  /** Whether the socket `attachment` is in the room (a repeated join is answered, not run again). */
  has(key: RoomKey, attachment: string): boolean {
    return this.owned.get(keyOf(key))?.attachments.has(attachment) ?? false;
  }

  /** Accepts a gateway socket into the room (owned under `epoch`); throws a P3Error when the room refuses. */
  async join(command: JoinCommand, epoch: number): Promise<void> {
    const room = await this.ensure(command.key, epoch);
    const opened = await this.rooms.open(room.id, undefined);
    if (!opened.ok) throw opened.error;
    if (this.owned.get(keyOf(command.key)) !== room)
      throw new P3Error(ErrorCode.RoomUnavailable, 'the room moved while the socket joined; reconnect');
    room.attachments.set(command.attachment, command.gateway);
    room.idleTimer?.();
    room.idleTimer = undefined;
    await opened.value.handleSocketConnect({
      sessionId: command.attachment,
      socket: this.remoteSocket(command.key, command.attachment),
      clientId: command.clientId,
    });
  }

  /** Ends the sockets held by gateways not in `live` (they died), as if they closed; returns how many. */
  endGatewaysOtherThan(live: ReadonlySet<string>): number {
    let ended = 0;
    for (const room of this.owned.values()) {
      const handle = this.rooms.loaded(room.id);
      const before = room.attachments.size;
      for (const [attachment, gateway] of [...room.attachments]) {
        if (live.has(gateway)) continue;
        room.attachments.delete(attachment);
        handle?.handleSocketClose(attachment);
        ended++;
      }
      for (const gateway of [...room.followers]) if (!live.has(gateway)) this.unfollow(room, gateway);
      if (before > 0 && room.attachments.size === 0 && room.followers.size === 0) this.scheduleIdle(room);
    }
    return ended;
  }

  /** A seed-002 HTTP call on the room (owned under `epoch`); throws a P3Error the gateway answers with. */
  async call(call: DocumentCall, epoch: number): Promise<JsonValue> {
    const room = await this.ensure(call.key, epoch);
    const opened = await this.rooms.open(room.id, undefined);
    if (!opened.ok) throw opened.error;
    const doc = opened.value;
    try {
      switch (call.op) {
        case 'bootstrap':
          return (await documentBootstrap(doc, call.since)) as unknown as JsonValue;
        case 'change': {
          const version = doc.applyPatches(call.patches, call.origin);
          await doc.whenDurable(version);
          return { version };
        }
        case 'follow':
          this.follow(room, call.gateway, doc);
          return { version: doc.getVersion(), epoch: room.epoch };
        case 'unfollow':
          this.unfollow(room, call.gateway);
          return {};
        case 'catchup': {
          const caught = await roomFeed(doc).catchUp(call.from);
          return { version: caught.version, patches: caught.patches as JsonValue };
        }
        default:
          throw new P3Error(ErrorCode.InvalidMessage, 'unknown document call');
      }
    } finally {
      if (room.attachments.size === 0 && room.followers.size === 0 && room.idleTimer === undefined)
        this.scheduleIdle(room);
    }
  }

  /** The lease is gone: stop publishing at once and unload the room (a successor recovers it from snapshot + log). */
  lost(key: RoomKey): void {
    const room = this.owned.get(keyOf(key));
    if (!room) return;
    this.forget(room, false);
    // Its final save carries the old epoch: the stores refuse it once the successor saved.
    void this.rooms.closeRoom(room.id).catch(() => undefined);
  }

  /** Placement moved the room (or SIGTERM): its sockets are told to reconnect, it saves and unloads. */
  async handOff(key: RoomKey): Promise<void> {
    const room = this.owned.get(keyOf(key));
    if (!room) return;
    await this.rooms.closeRoom(room.id);
    this.forget(room, true);
  }

  async close(): Promise<void> {
    await this.rooms.close();
    for (const room of [...this.owned.values()]) this.forget(room, true);
  }

  private async ensure(key: RoomKey, epoch: number): Promise<OwnedDocument> {
    const existing = this.owned.get(keyOf(key));
    if (existing && existing.epoch === epoch) return existing;
    if (existing) this.forget(existing, false);
    const { bus, output } = this.options;
    const room: OwnedDocument = {
      key,
      id: key.room.slice('doc/'.length),
      epoch,
      attachments: new Map(),
      missing: new Map(),
      followers: new Set(),
      unsubscribe: undefined,
      idleTimer: undefined,
      input: bus.subscribe(roomInput(key), (bytes) => this.input(room, bytes)),
    };
    this.owned.set(keyOf(key), room);
    output.openRoom(key, epoch);
    await bus.flush();
    return room;
  }

  private input(room: OwnedDocument, bytes: Uint8Array): void {
    if (this.owned.get(keyOf(room.key)) !== room) return;
    const decoded = decodeRoomInputBatch(bytes);
    if (!decoded.ok) {
      this.options.logger.warn({ code: decoded.code, reason: decoded.message }, 'malformed document input');
      return;
    }
    const handle = this.rooms.loaded(room.id);
    let unknown: string[] | undefined;
    for (const item of decoded.value.items) {
      if (!room.attachments.has(item.attachment) || handle === undefined) {
        (unknown ??= []).push(item.attachment);
        continue;
      }
      if ('leave' in item) {
        room.attachments.delete(item.attachment);
        handle.handleSocketClose(item.attachment);
        if (room.attachments.size === 0) this.scheduleIdle(room);
      } else handle.handleSocketMessage(item.attachment, item.message);
    }
    const { roster } = decoded.value;
    if (roster !== undefined && handle !== undefined) {
      const ended = endMissing(
        room.attachments,
        room.missing,
        decoded.value.gateway,
        roster,
        (attachment) => {
          room.attachments.delete(attachment);
          handle.handleSocketClose(attachment);
        },
      );
      if (ended > 0 && room.attachments.size === 0 && room.followers.size === 0) this.scheduleIdle(room);
    }
    if (unknown) this.options.detached(decoded.value.gateway, room.key, [...new Set(unknown)]);
  }

  /** Sends the room's durable changes to the gateways following it, as broadcasts in the room's output. */
  private follow(room: OwnedDocument, gateway: string, doc: Room): void {
    room.followers.add(gateway);
    room.idleTimer?.();
    room.idleTimer = undefined;
    if (room.unsubscribe !== undefined) return;
    const { output } = this.options;
    room.unsubscribe = doc.subscribe(
      (change) =>
        output.broadcastText(
          room.key,
          JSON.stringify({
            type: 'change',
            version: change.timestamp,
            clientId: change.clientId,
            patches: change.documentPatches,
          }),
        ),
      () => {
        room.unsubscribe = undefined;
        room.followers.clear();
        output.broadcastText(room.key, '{"type":"end"}');
      },
    );
  }

  private unfollow(room: OwnedDocument, gateway: string): void {
    room.followers.delete(gateway);
    if (room.followers.size > 0) return;
    room.unsubscribe?.();
    room.unsubscribe = undefined;
  }

  /** The gateway's socket as the room sees it: what the room sends it travels in the room's output. */
  private remoteSocket(key: RoomKey, attachment: string): WebSocketLike {
    const { output } = this.options;
    return {
      send: (text) => output.sendText(key, attachment, text),
      close: (code, reason) => {
        const room = this.owned.get(keyOf(key));
        if (room?.attachments.delete(attachment) && room.attachments.size === 0) this.scheduleIdle(room);
        output.close(key, attachment, code ?? 1000, reason ?? '');
      },
    };
  }

  private scheduleIdle(room: OwnedDocument): void {
    room.idleTimer?.();
    room.idleTimer = this.options.scheduler.after(this.options.idleTimeoutMs ?? 30_000, () => {
      room.idleTimer = undefined;
      if (room.attachments.size > 0 || room.followers.size > 0 || this.owned.get(keyOf(room.key)) !== room)
        return;
      void this.rooms
        .closeRoom(room.id)
        .then(() => {
          if (
            this.owned.get(keyOf(room.key)) !== room ||
            room.attachments.size > 0 ||
            room.followers.size > 0
          )
            return;
          this.forget(room, true);
          this.options.release(room.key);
        })
        .catch((error: unknown) =>
          this.options.logger.warn({ err: error, room: room.id }, 'idle close failed'),
        );
    });
  }

  private forget(room: OwnedDocument, flush: boolean): void {
    if (this.owned.get(keyOf(room.key)) !== room) return;
    this.owned.delete(keyOf(room.key));
    room.idleTimer?.();
    room.unsubscribe?.();
    room.unsubscribe = undefined;
    room.input.unsubscribe();
    this.options.output.closeRoom(room.key, { flush });
  }
}

function keyOf(key: RoomKey): string {
  return `${key.tenant}\u0000${key.room}`;
}
