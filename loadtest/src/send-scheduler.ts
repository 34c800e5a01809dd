/** Something that sends one update stamped with the time it is sent. */
export interface UpdateSender {
  sendUpdate(now: number): void;
}

/**
 * Drives every sender at one fixed period from a single timer: sender i is due at `start + phase_i + k x period`,
 * phases spread evenly over the period so sends do not come in bursts. A wake-up sends everything due; a sender
 * that fell more than one period behind skips ahead instead of bursting to catch up. Sends are stamped with the
 * time they actually happen, so timer lag never counts as delivery latency; it is reported as `maxLagMs`.
 */
export class SendScheduler {
  private readonly due: Float64Array;
  private timer: NodeJS.Timeout | undefined;
  private lag = 0;

  constructor(
    private readonly senders: readonly UpdateSender[],
    private readonly periodMs: number,
    private readonly wakeMs = Math.max(1, Math.min(5, periodMs / 10)),
  ) {
    this.due = new Float64Array(senders.length);
  }

  /** Largest delay between a send's due time and the send since the last `resetLag()`. */
  get maxLagMs(): number {
    return this.lag;
  }

  start(): void {
    if (this.timer) return;
    const start = performance.now();
    const n = this.senders.length;
    for (let i = 0; i < n; i++) this.due[i] = start + (i * this.periodMs) / n;
    this.timer = setInterval(() => this.wake(), this.wakeMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  resetLag(): void {
    this.lag = 0;
  }

  private wake(): void {
    const { due, senders, periodMs } = this;
    for (let i = 0; i < senders.length; i++) {
      const at = due[i] as number;
      const now = performance.now();
      if (at > now) continue;
      if (now - at > this.lag) this.lag = now - at;
      (senders[i] as UpdateSender).sendUpdate(now);
      due[i] = now - at > periodMs ? now + periodMs : at + periodMs;
    }
  }
}
