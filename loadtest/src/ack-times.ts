/** Sends a connection may have outstanding before the oldest one's time is overwritten (51 s at 20 Hz). */
const RING = 1024;

/**
 * Ack latency of one connection's `ops` stream (one session stamp): the time from sending the message with
 * sequence number S to receiving the first ack with seq >= S. Acks are cumulative (seq: everything up to it
 * arrived, and with the room log, is durable), so one ack ends the wait of every message it newly covers. Send
 * times sit in a ring indexed by sequence number: nothing is allocated per message. Only sends marked `counted`
 * (inside the measured window) give samples, whenever their ack arrives.
 *
 * @example
 * const times = new AckTimes();
 * times.sent(2, performance.now(), true);
 * times.acked(2, performance.now(), (ms) => histogram.add(ms));
 */
export class AckTimes {
  /** Send time by `seq % RING`; NaN: not counted (sent outside the window, or never sent). */
  private readonly sentAt = new Float64Array(RING).fill(Number.NaN);
  private lastSent = 0;
  private lastAcked = 0;

  /** Message `seq` went out at `now` (sequence numbers increase by one per message). */
  sent(seq: number, now: number, counted: boolean): void {
    this.sentAt[seq % RING] = counted ? now : Number.NaN;
    this.lastSent = seq;
  }

  /**
   * An ack covering everything up to `seq` arrived at `now`: one sample for each counted message it covers that no
   * earlier ack did. A message more than RING sends older than the newest has lost its slot and gives none (the
   * caller sees it as an ack that never came).
   */
  acked(seq: number, now: number, sample: (ms: number) => void): void {
    if (seq <= this.lastAcked) return;
    const from = Math.max(this.lastAcked + 1, this.lastSent - RING + 1);
    const through = Math.min(seq, this.lastSent);
    for (let s = from; s <= through; s++) {
      const at = this.sentAt[s % RING] as number;
      if (Number.isNaN(at)) continue;
      sample(now - at);
      this.sentAt[s % RING] = Number.NaN;
    }
    this.lastAcked = seq;
  }
}
