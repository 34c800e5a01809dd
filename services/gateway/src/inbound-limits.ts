import { CloseCode, ErrorCode } from '@p3/protocol';
import type { Clock, RoomKey } from '@p3/runtime';
import type { GatewayConfig } from './gateway-config.js';
import { TokenBucket } from './rate-limiter.js';

/** Why a message was dropped before decoding, and whether the socket is to be told or closed. */
export interface Refusal {
  readonly code: ErrorCode;
  readonly reason: string;
  /** Send the error (at most one per second per socket: the drops themselves are not answered one by one). */
  readonly notify: boolean;
  /** Close the socket with this code: it kept going over its limits. */
  readonly close: { readonly code: number; readonly reason: string } | undefined;
}

/** The key of a room's byte budget (`/ecs-sync` rooms are `doc/<id>`). */
export function roomBudgetKey(key: RoomKey): string {
  return `${key.tenant}\u0000${key.room}`;
}

/**
 * The byte budgets of the rooms with members on this gateway: one bucket per room, shared by its sockets (both
 * `/v1/connect` and `/ecs-sync`), dropped with its last socket.
 */
export class RoomByteBudgets {
  private readonly rooms = new Map<string, { readonly bucket: TokenBucket; users: number }>();

  constructor(
    private readonly clock: Clock,
    private readonly config: GatewayConfig['byteRate'],
  ) {}

  acquire(room: string): TokenBucket {
    let entry = this.rooms.get(room);
    if (entry === undefined) {
      const { roomBytesPerSecond, roomBurstBytes } = this.config;
      entry = { bucket: new TokenBucket(this.clock, roomBytesPerSecond, roomBurstBytes), users: 0 };
      this.rooms.set(room, entry);
    }
    entry.users++;
    return entry.bucket;
  }

  release(room: string): void {
    const entry = this.rooms.get(room);
    if (entry !== undefined && --entry.users <= 0) this.rooms.delete(room);
  }

  /** Rooms with a budget (tests: none is left behind). */
  get size(): number {
    return this.rooms.size;
  }
}

/**
 * What one socket may send, checked before decoding ([LIMIT-1]..[LIMIT-4] in the gateway's SPEC.md): messages per
 * second, bytes per second of the socket and of its room, `resync` requests per second; and how many refused
 * messages it may send before it is closed.
 *
 * @example
 * const refusal = limits.admit(bytes.byteLength);
 * if (refusal?.close) ws.end(refusal.close.code, refusal.close.reason);
 */
export class InboundLimits {
  private readonly messages: TokenBucket;
  private readonly bytes: TokenBucket;
  private readonly resyncs: TokenBucket;
  private readonly refusals: TokenBucket;
  private room: { readonly key: string; readonly bucket: TokenBucket } | undefined;
  /** Messages dropped in a row by a rate limit. */
  private dropped = 0;
  /** Clock time of the last rate error told to the client. */
  private lastNotice = -Infinity;

  constructor(
    private readonly config: GatewayConfig,
    private readonly clock: Clock,
    private readonly rooms: RoomByteBudgets,
  ) {
    const { rateLimit, byteRate, resyncRate, refusals } = config;
    this.messages = new TokenBucket(clock, rateLimit.messagesPerSecond, rateLimit.burst);
    this.bytes = new TokenBucket(clock, byteRate.connectionBytesPerSecond, byteRate.connectionBurstBytes);
    this.resyncs = new TokenBucket(clock, resyncRate.perSecond, resyncRate.burst);
    this.refusals = new TokenBucket(clock, refusals.perSecond, refusals.burst);
  }

  /** From now on the socket's bytes also count against `room`'s budget. */
  joinRoom(room: string): void {
    this.leaveRoom();
    this.room = { key: room, bucket: this.rooms.acquire(room) };
  }

  leaveRoom(): void {
    if (this.room === undefined) return;
    this.rooms.release(this.room.key);
    this.room = undefined;
  }

  /** One message of `size` bytes arrived: undefined when it may be handled, the refusal when it is dropped. */
  admit(size: number): Refusal | undefined {
    const { rateLimit, byteRate } = this.config;
    // One clock read for the three buckets of a message (this runs for every message of every socket).
    const now = this.clock.now();
    if (!this.messages.take(1, now)) {
      return this.drop(
        ErrorCode.RateLimited,
        `more than ${rateLimit.messagesPerSecond} messages per second: messages are being dropped`,
        'message rate limit exceeded for too long',
      );
    }
    // A message larger than a burst takes the whole burst (it passes once the bucket is full).
    const own = Math.min(size, byteRate.connectionBurstBytes);
    if (!this.bytes.take(own, now)) {
      this.messages.refund(1);
      return this.drop(
        ErrorCode.ByteRateLimited,
        `more than ${byteRate.connectionBytesPerSecond} bytes per second from this connection: messages are being dropped`,
        'byte rate limit exceeded for too long',
      );
    }
    if (this.room !== undefined && !this.room.bucket.take(Math.min(size, byteRate.roomBurstBytes), now)) {
      this.messages.refund(1);
      this.bytes.refund(own);
      return this.drop(
        ErrorCode.ByteRateLimited,
        `the room receives more than ${byteRate.roomBytesPerSecond} bytes per second: messages are being dropped`,
        'room byte rate limit exceeded for too long',
      );
    }
    this.dropped = 0;
    return undefined;
  }

  /** A `resync` request: false when over its rate (refuse it: building a catch-up is not free). */
  admitResync(): boolean {
    return this.resyncs.take();
  }

  /**
   * A message was refused (bad, too large, out of place, over the resync rate): the close to apply when the socket
   * has used up its refusals, else undefined.
   */
  refused(): { readonly code: number; readonly reason: string } | undefined {
    if (this.refusals.take()) return undefined;
    return { code: CloseCode.ProtocolViolation, reason: 'too many refused messages' };
  }

  private drop(code: ErrorCode, reason: string, closeReason: string): Refusal {
    this.dropped++;
    const now = this.clock.now();
    const notify = now - this.lastNotice >= 1000;
    if (notify) this.lastNotice = now;
    const close =
      this.dropped >= this.config.rateLimit.closeAfterDropped
        ? { code: CloseCode.RateLimited, reason: closeReason }
        : undefined;
    return { code, reason, notify, close };
  }
}
