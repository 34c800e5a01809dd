import { LatencyHistogram, type LatencyHistogramData, type LatencySummary } from './latency-histogram.js';

/** What the load process counted over the measured window (and a few totals over the whole run). */
export interface LoadWindowCounts {
  /** Entity updates of other clients' bots received, summed over every client. */
  readonly updates: number;
  /** Updates of a client's own bot echoed back in frames (P3 sends every member the whole frame). */
  readonly selfUpdates: number;
  /** WebSocket payload bytes received, summed over every client (frame headers and TCP not included). */
  readonly bytes: number;
  readonly messages: number;
  /** `ops` messages sent. */
  readonly sent: number;
  readonly latency: LatencySummary;
  /** The same samples, for the orchestrator to merge with the other load processes'. */
  readonly latencyHistogram: LatencyHistogramData;
  /** P3: `ops` messages sent in the window whose ack was awaited, and how long each waited (see AckTimes). */
  readonly acksAwaited: number;
  readonly ackLatency: LatencySummary;
  readonly ackLatencyHistogram: LatencyHistogramData;
  /** (receiver, sender) pairs of the same room for which the receiver got at least one update in the window. */
  readonly pairsSeen: number;
  readonly pairsExpected: number;
}

/**
 * Counters shared by every connection of the load process. Hot-path methods only add to numbers and typed arrays:
 * nothing is allocated per message. The arena's process runs `rooms` consecutive rooms of `clients` starting at
 * global room `roomOffset`: methods take global client indexes (unique across load processes, as bot ids are), the
 * arrays are sized for the local rooms only. Without that layout (the scale bench's members come in groups, and a
 * room may span processes) no pairs are tracked.
 */
export class LoadStats {
  measuring = false;
  updates = 0;
  selfUpdates = 0;
  bytes = 0;
  messages = 0;
  sent = 0;
  // Totals over the whole run, not only the window: any of these is a finding.
  acks = 0;
  rejects = 0;
  errors = 0;
  catchups = 0;
  decodeErrors = 0;
  unexpectedCloses = 0;
  /** P3: window sends whose ack is awaited; each ack that covers one adds a sample to `ackLatency`. */
  acksAwaited = 0;
  private readonly latency = new LatencyHistogram();
  private readonly ackLatency = new LatencyHistogram();
  private ackWaiter: (() => void) | undefined;
  private readonly seen: Uint8Array;
  private readonly firstIndex: number;

  constructor(
    readonly rooms = 0,
    readonly clients = 0,
    roomOffset = 0,
  ) {
    this.seen = new Uint8Array(rooms * clients * clients);
    this.firstIndex = roomOffset * clients;
  }

  /** Starts the measured window: window counters restart from zero. */
  begin(): void {
    this.updates = 0;
    this.selfUpdates = 0;
    this.bytes = 0;
    this.messages = 0;
    this.sent = 0;
    this.latency.reset();
    this.ackLatency.reset();
    this.acksAwaited = 0;
    this.seen.fill(0);
    this.measuring = true;
  }

  end(): void {
    this.measuring = false;
  }

  received(bytes: number): void {
    if (!this.measuring) return;
    this.messages++;
    this.bytes += bytes;
  }

  /** An update of `sender`'s bot stamped `t` reached `receiver` at `now` (global client indexes). */
  update(receiver: number, sender: number, now: number, t: number): void {
    if (!this.measuring) return;
    if (sender === receiver) {
      this.selfUpdates++;
      return;
    }
    this.updates++;
    this.latency.add(now - t);
    // The slot (index % clients) is the same globally and locally: the offset is a whole number of rooms.
    if (this.clients > 0)
      this.seen[(receiver - this.firstIndex) * this.clients + (sender % this.clients)] = 1;
  }

  /**
   * An update of a bot whose sender runs in another load process: its stamp is another clock, so it gives no
   * latency (and no pair). Only the scale bench's rooms span processes.
   */
  foreignUpdate(): void {
    if (this.measuring) this.updates++;
  }

  sentOne(): void {
    if (this.measuring) this.sent++;
  }

  /** An ack ended the wait of a window send after `ms` (it may arrive after the window closed). */
  acked(ms: number): void {
    this.ackLatency.add(ms);
    if (this.ackWaiter !== undefined && this.ackLatency.sampleCount >= this.acksAwaited) this.ackWaiter();
  }

  /**
   * Resolves once every window send awaiting an ack got one, or after `timeoutMs` (acks that never came then show
   * as `acksAwaited` above the ack latency count). P3 acks a member that keeps sending once a second, so the sends
   * of the window's last second are acked after it closed.
   */
  whenAcked(timeoutMs: number): Promise<void> {
    if (this.ackLatency.sampleCount >= this.acksAwaited) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.ackWaiter = undefined;
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.ackWaiter = done;
    });
  }

  /** Window figures, after `end()`. */
  counts(): LoadWindowCounts {
    let pairsSeen = 0;
    for (let receiver = 0; receiver < this.rooms * this.clients; receiver++) {
      const own = receiver % this.clients;
      for (let slot = 0; slot < this.clients; slot++) {
        if (slot !== own && this.seen[receiver * this.clients + slot] === 1) pairsSeen++;
      }
    }
    return {
      updates: this.updates,
      selfUpdates: this.selfUpdates,
      bytes: this.bytes,
      messages: this.messages,
      sent: this.sent,
      latency: this.latency.summary(),
      latencyHistogram: this.latency.toData(),
      acksAwaited: this.acksAwaited,
      ackLatency: this.ackLatency.summary(),
      ackLatencyHistogram: this.ackLatency.toData(),
      pairsSeen,
      pairsExpected: this.rooms * this.clients * (this.clients - 1),
    };
  }
}
