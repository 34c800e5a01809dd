import { BusError, BusErrorCode, roomOutput, type Bus, type BusSubject } from './ports/bus.js';
import {
  FrameBufferError,
  FrameBufferErrorCode,
  type BufferPosition,
  type FrameBuffer,
} from './ports/frame-buffer.js';
import type { RoomKey } from './ports/snapshot-store.js';
import { encodeEnvelope } from './room-output-envelope.js';

export interface RoomOutputPublisherOptions {
  readonly bus: Bus;
  readonly buffer: FrameBuffer;
  readonly key: RoomKey;
  /** The owner's fencing token from its lease: every message carries it. */
  readonly epoch: number;
  /**
   * Called once, when the buffer refused an append with `FRAME_BUFFER_STALE`: a newer epoch wrote to the room, so
   * this owner was deposed. `latest` is the room's newest position then. The owner should step down.
   */
  readonly onDeposed?: (latest: BufferPosition | undefined) => void;
}

/** What one {@link RoomOutputPublisher.publish} did. */
export type RoomOutputPublishResult =
  | { readonly status: 'published'; readonly position: BufferPosition }
  /** Nothing was published: this publisher was deposed (by this call or an earlier one). */
  | { readonly status: 'deposed' };

/**
 * The owner side of a room's output, one per room per epoch. Each message gets the next `seq` (1, 2, ...), is
 * appended to the frame buffer, and only then published on `roomOutput(key)`: a gateway that sees a gap can always
 * find the missing messages in the buffer (unless capacity trimmed them). Calls are chained, so messages keep call
 * order on the buffer and on the bus even though the append is asynchronous.
 *
 * The buffer's fence is the deposition check: once a newer epoch appended, this owner's append is refused, it
 * reports `onDeposed` and publishes nothing more, so gateways never hear it again after its successor started.
 *
 * A failed append other than a stale one (the buffer unreachable) rejects that call, consumes no seq and publishes
 * nothing; the next call tries again with the same seq (if the failed append did land, that retry is refused as
 * stale and the owner steps down: safe, a successor continues with a higher epoch). If the bus throws after the append (closed), the call
 * rejects but the message stays in the buffer, where gateways find it with the next message.
 *
 * @example
 * const output = new RoomOutputPublisher({ bus, buffer, key, epoch: lease.epoch, onDeposed: () => room.stepDown() });
 * void output.publish(frame.id, encodedFrame).catch(log);
 */
export class RoomOutputPublisher {
  private readonly subject: BusSubject;
  private lastSeq = 0;
  private isDeposed = false;
  // The tail of the chain of calls; never rejects, so one failure does not poison the calls after it.
  private tail: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: RoomOutputPublisherOptions) {
    this.subject = roomOutput(options.key);
  }

  /** True once the buffer refused this owner (see {@link RoomOutputPublisherOptions.onDeposed}). */
  get deposed(): boolean {
    return this.isDeposed;
  }

  /** The position of the last message appended, `seq` 0 before the first. */
  get position(): BufferPosition {
    return { epoch: this.options.epoch, seq: this.lastSeq };
  }

  /** Appends then publishes one message of `frame`. Resolves in call order; see the class for failures. */
  publish(frame: number, payload: Uint8Array): Promise<RoomOutputPublishResult> {
    // Copied now: the caller may reuse its buffer as soon as this returns, and the append runs later.
    const bytes = new Uint8Array(payload);
    const result = this.tail.then(() => this.appendThenPublish(frame, bytes));
    this.tail = result.catch(() => undefined);
    return result;
  }

  private async appendThenPublish(frame: number, payload: Uint8Array): Promise<RoomOutputPublishResult> {
    if (this.isDeposed) return { status: 'deposed' };
    const { bus, buffer, key, epoch } = this.options;
    const entry = { epoch, seq: this.lastSeq + 1, frame, payload };
    const envelope = encodeEnvelope(entry);
    // Checked before the append: a message in the buffer that can never be published would be a gap for nothing.
    if (envelope.byteLength > bus.maxPayload)
      throw new BusError(
        BusErrorCode.PayloadTooLarge,
        `room output of ${envelope.byteLength} bytes exceeds the bus limit of ${bus.maxPayload}`,
      );
    try {
      await buffer.append(key, entry);
    } catch (error) {
      if (!(error instanceof FrameBufferError) || error.code !== FrameBufferErrorCode.Stale) throw error;
      this.isDeposed = true;
      this.options.onDeposed?.(error.latest);
      return { status: 'deposed' };
    }
    this.lastSeq = entry.seq;
    bus.publish(this.subject, envelope);
    return { status: 'published', position: { epoch, seq: entry.seq } };
  }
}
