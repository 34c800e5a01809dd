import type { WebSocketConstructor, WebSocketLike } from '@p3/client';

/** Simulated network conditions, read for every message (change them at any time). */
export interface NetworkConditions {
  /** Added round trip in ms: half on the way out, half on the way in. */
  latencyMs: number;
  /** Percent of messages "lost" in each direction (0-100). */
  lossPercent: number;
}

/** TCP's minimum retransmission timeout: what a lost segment costs at least before it is sent again. */
const minRetransmitMs = 200;

/**
 * A WebSocket that adds latency and loss, for the SDK's `transport` option (the page's network control). Loss is
 * simulated the way it looks over TCP: a lost message is not missing but retransmitted after a timeout, and every
 * message behind it waits (head-of-line blocking). Order is kept in both directions, so the protocol's guarantees
 * hold; what changes is timing, which is what prediction, `generated` and `corrected` frames are about.
 *
 * @example
 * const network = { latencyMs: 200, lossPercent: 5 };
 * new P3Client({ host, port, instanceId: 'arena', transport: laggyWebSocket(network) });
 */
export function laggyWebSocket(conditions: NetworkConditions, random = Math.random): WebSocketConstructor {
  return class LaggySocket implements WebSocketLike {
    onopen: WebSocketLike['onopen'] = null;
    onmessage: WebSocketLike['onmessage'] = null;
    onclose: WebSocketLike['onclose'] = null;
    onerror: WebSocketLike['onerror'] = null;
    private readonly inner: WebSocket;
    /** Messages waiting, per direction, with the time each is due (non-decreasing). */
    private readonly queues = {
      out: [] as Array<{ at: number; deliver: () => void }>,
      in: [] as Array<{ at: number; deliver: () => void }>,
    };
    /** Whether a pump is scheduled for the direction. */
    private readonly timers = { out: false, in: false };

    constructor(url: string, protocols?: string | string[]) {
      this.inner = new WebSocket(url, protocols);
      this.inner.onopen = (event) => this.onopen?.(event);
      this.inner.onerror = (event) => this.onerror?.(event);
      this.inner.onmessage = (event: MessageEvent<unknown>) =>
        this.later('in', () => this.onmessage?.({ data: event.data }));
      // The close comes after the messages before it, never lost.
      this.inner.onclose = (event) =>
        this.later('in', () => this.onclose?.({ code: event.code, reason: event.reason }), true);
    }

    get binaryType(): string {
      return this.inner.binaryType;
    }

    set binaryType(value: string) {
      this.inner.binaryType = value as BinaryType;
    }

    get protocol(): string {
      return this.inner.protocol;
    }

    get readyState(): number {
      return this.inner.readyState;
    }

    send(data: string | Uint8Array): void {
      // The caller may reuse its buffer once send returns: keep a copy until the delayed send.
      const copy = typeof data === 'string' ? data : data.slice();
      this.later('out', () => {
        if (this.inner.readyState === WebSocket.OPEN) this.inner.send(copy);
      });
    }

    close(code?: number, reason?: string): void {
      // After what was sent before it (a `leave` must not be overtaken by the close).
      this.later('out', () => this.inner.close(code, reason), true);
    }

    private later(direction: 'out' | 'in', deliver: () => void, reliable = false): void {
      const now = performance.now();
      const lost = !reliable && random() * 100 < conditions.lossPercent;
      const delay = conditions.latencyMs / 2 + (lost ? Math.max(minRetransmitMs, conditions.latencyMs) : 0);
      const queue = this.queues[direction];
      // Never before the message ahead of it: one queue per direction, delivered in order.
      const at = Math.max(queue.at(-1)?.at ?? 0, now + delay);
      if (queue.length === 0 && at <= now) return deliver();
      queue.push({ at, deliver });
      if (!this.timers[direction]) this.pump(direction);
    }

    private pump(direction: 'out' | 'in'): void {
      this.timers[direction] = false;
      const queue = this.queues[direction];
      const now = performance.now();
      while (queue.length > 0 && queue[0]!.at <= now) queue.shift()!.deliver();
      if (queue.length === 0 || this.timers[direction]) return;
      this.timers[direction] = true;
      setTimeout(() => this.pump(direction), queue[0]!.at - now);
    }
  };
}
