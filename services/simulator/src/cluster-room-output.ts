import { JsonCodec, type ServerMessage, type WelcomeMessage } from '@p3/protocol';
import {
  RoomOutputPublisher,
  encodeRoomOutputBatch,
  splitOutputItems,
  type Bus,
  type BufferPosition,
  type FrameBuffer,
  type RoomKey,
  type RoomOutput,
  type RoomOutputItem,
} from '@p3/runtime';
import type { Logger } from 'pino';

interface OutputRoom {
  readonly publisher: RoomOutputPublisher;
  items: RoomOutputItem[];
  /** The newest frame id broadcast: the envelope's `frame`. */
  frame: number;
  scheduled: boolean;
  /** Publishes that failed since the last one logged (a store outage fails every tick: one line per interval). */
  failed: number;
  failureLoggedAt: number;
}

/** While publishes keep failing, a room logs its failures once per this long. */
const failureLogEveryMs = 5000;

const json = new JsonCodec();
/** Room for the envelope's header (version, epoch, seq, frame: at most 25 bytes) and a safety margin. */
const envelopeHeadroom = 64;

/**
 * The simulator's RoomOutput in the cluster. What a room emits during one turn of the event loop (a tick's frame,
 * the acks and catch-ups beside it) becomes one batch, published once on `roomOutput(key)` through the room's
 * RoomOutputPublisher: sequenced under the owner's epoch, appended to the frame buffer before it is published. So
 * every gateway serving the room sees the same ordered stream (frames, unicasts, closes, welcomes) and repairs a
 * gap from the buffer; a gateway drops unicasts for members it does not hold.
 *
 * A room is published only between `openRoom(key, epoch)` and `closeRoom(key)`: a room whose lease was lost is closed
 * first, so nothing it still emits leaves the process.
 */
export class ClusterRoomOutput implements RoomOutput {
  private readonly rooms = new Map<string, OutputRoom>();

  constructor(
    private readonly deps: {
      readonly bus: Bus;
      readonly buffer: FrameBuffer;
      readonly logger: Logger;
      /** The buffer refused an append as stale: a newer owner took the room over. */
      readonly onDeposed: (key: RoomKey, epoch: number, latest: BufferPosition | undefined) => void;
    },
  ) {}

  openRoom(key: RoomKey, epoch: number): void {
    const id = keyOf(key);
    if (this.rooms.has(id)) return;
    const publisher = new RoomOutputPublisher({
      bus: this.deps.bus,
      buffer: this.deps.buffer,
      key,
      epoch,
      onDeposed: (latest) => this.deps.onDeposed(key, epoch, latest),
    });
    this.rooms.set(id, {
      publisher,
      items: [],
      frame: 0,
      scheduled: false,
      failed: 0,
      failureLoggedAt: -Infinity,
    });
  }

  /**
   * Stops publishing the room. With `flush` what it emitted in this turn is published first (a handoff's closes);
   * without, it is dropped (the lease was lost: a successor may own the room already).
   */
  closeRoom(key: RoomKey, options: { flush: boolean }): void {
    const room = this.rooms.get(keyOf(key));
    if (!room) return;
    if (options.flush) this.flush(key, room);
    this.rooms.delete(keyOf(key));
  }

  broadcast(key: RoomKey, message: ServerMessage): void {
    const room = this.rooms.get(keyOf(key));
    if (!room) return;
    if (message.type === 'frame') room.frame = Math.max(room.frame, message.frame.id);
    this.push(key, room, { kind: 'broadcast', message: json.encodeServer(message) });
  }

  send(key: RoomKey, connectionId: string, message: ServerMessage): void {
    const room = this.rooms.get(keyOf(key));
    if (room) this.push(key, room, { kind: 'send', connectionId, message: json.encodeServer(message) });
  }

  close(key: RoomKey, connectionId: string, code: number, reason: string): void {
    const room = this.rooms.get(keyOf(key));
    if (room) this.push(key, room, { kind: 'close', connectionId, code, reason });
  }

  /** Text as it is to every gateway serving the room (a document room's change, for the gateways' change streams). */
  broadcastText(key: RoomKey, text: string): void {
    const room = this.rooms.get(keyOf(key));
    if (room) this.push(key, room, { kind: 'broadcast', message: text });
  }

  /** Text as it is to one attachment (a document room's JSON message to one gateway socket). */
  sendText(key: RoomKey, connectionId: string, text: string): void {
    const room = this.rooms.get(keyOf(key));
    if (room) this.push(key, room, { kind: 'send', connectionId, message: text });
  }

  /** The welcome of an accepted join, ordered with the room's output after everything emitted before it. */
  welcome(key: RoomKey, attachment: string, welcome: WelcomeMessage): void {
    const room = this.rooms.get(keyOf(key));
    if (!room) return;
    room.frame = Math.max(room.frame, welcome.frame);
    this.push(key, room, { kind: 'welcome', attachment, message: json.encodeServer(welcome) });
  }

  private push(key: RoomKey, room: OutputRoom, item: RoomOutputItem): void {
    room.items.push(item);
    if (room.scheduled) return;
    room.scheduled = true;
    queueMicrotask(() => this.flush(key, room));
  }

  private flush(key: RoomKey, room: OutputRoom): void {
    room.scheduled = false;
    const items = room.items;
    room.items = [];
    if (items.length === 0 || this.rooms.get(keyOf(key)) !== room) return;
    const limit = this.deps.bus.maxPayload - envelopeHeadroom;
    const whole = encodeRoomOutputBatch({ items });
    // A message larger than one bus message (a big world's welcome) travels in parts, each its own envelope; the
    // usual tick's batch is encoded once and goes as it is.
    const payloads =
      whole.byteLength <= limit
        ? [whole]
        : splitOutputItems(items, limit).map((batch) => encodeRoomOutputBatch({ items: batch }));
    for (const payload of payloads)
      room.publisher.publish(room.frame, payload).catch((error: unknown) => this.failed(key, room, error));
  }

  private failed(key: RoomKey, room: OutputRoom, error: unknown): void {
    room.failed++;
    const now = performance.now();
    if (now - room.failureLoggedAt < failureLogEveryMs) return;
    this.deps.logger.error({ err: error, room: key.room, failed: room.failed }, 'room output publish failed');
    room.failureLoggedAt = now;
    room.failed = 0;
  }
}

function keyOf(key: RoomKey): string {
  return `${key.tenant}\u0000${key.room}`;
}
