import { decodeEnvelope, roomOutput, type Bus, type RoomKey } from '@p3/runtime';

interface EpochSpan {
  /** When its first and last message passed here (performance.now()). */
  first: number;
  last: number;
  /** The lowest and highest frame its messages carried (world rooms; document rooms send 0). */
  minFrame: number;
  maxFrame: number;
}

/**
 * Every envelope of a room's output as published, per owner epoch. Two owners believed at once show as an older
 * epoch producing frames the newer one also produced (overlapping frame ranges): unlike arrival order, this holds
 * up when a partitioned owner's buffered messages arrive late, after the partition heals (it made them earlier,
 * and gateways drop them as stale). Document rooms carry no frames, so for them an older epoch's message heard
 * after a newer one's counts.
 */
export class OutputSnoop {
  private readonly epochs = new Map<number, EpochSpan>();
  private lateOld = 0;
  private newestEpoch = 0;
  private newestFirstAt = 0;
  private messages = 0;
  private lastAt = 0;

  constructor(
    bus: Bus,
    key: RoomKey,
    private readonly kind: 'world' | 'document',
  ) {
    bus.subscribe(roomOutput(key), (bytes) => {
      const decoded = decodeEnvelope(bytes);
      if (!decoded.ok) return;
      const now = performance.now();
      this.messages++;
      this.lastAt = now;
      const { epoch, frame } = decoded.envelope;
      const seen = this.epochs.get(epoch);
      if (seen) {
        seen.last = now;
        seen.minFrame = Math.min(seen.minFrame, frame);
        seen.maxFrame = Math.max(seen.maxFrame, frame);
      } else this.epochs.set(epoch, { first: now, last: now, minFrame: frame, maxFrame: frame });
      if (epoch > this.newestEpoch) {
        this.newestEpoch = epoch;
        this.newestFirstAt = now;
      } else if (epoch < this.newestEpoch) this.lateOld++;
    });
  }

  /** Pairs of epochs that produced the same frames (world), or older-epoch messages after a newer one (documents). */
  get splitBrain(): number {
    if (this.kind === 'document') return this.lateOld;
    const spans = [...this.epochs.entries()].sort(([a], [b]) => a - b);
    let overlaps = 0;
    for (let i = 0; i < spans.length; i++)
      for (let j = i + 1; j < spans.length; j++)
        // A new owner's first message may restate the frame its predecessor ended on (the snapshot it loaded).
        if (spans[i]![1].maxFrame > spans[j]![1].minFrame) overlaps++;
    return overlaps;
  }

  /** When the first message of an epoch above `epoch` passed (undefined: none yet). */
  firstAfter(epoch: number): number | undefined {
    return this.newestEpoch > epoch ? this.newestFirstAt : undefined;
  }

  get epoch(): number {
    return this.newestEpoch;
  }

  /** Messages heard so far, and when the last one passed. */
  get heard(): { readonly count: number; readonly lastAt: number } {
    return { count: this.messages, lastAt: this.lastAt };
  }
}
