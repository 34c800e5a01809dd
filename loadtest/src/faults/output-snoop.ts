import { decodeEnvelope, decodeRoomOutputBatch, roomOutput, type Bus, type RoomKey } from '@p3/runtime';

interface EpochSpan {
  /** When its first and last message passed here (performance.now()). */
  first: number;
  last: number;
  /** The lowest and highest position its messages carried: frame ids (world), document versions (documents). */
  minFrame: number;
  maxFrame: number;
}

/**
 * A document room's ecs-sync messages name the version they reflect (`ack`, `patch`): `"timestamp":N`. 0 is no
 * version: ephemeral state, and patches to a session that has not synced yet.
 */
const versionPattern = /"timestamp":(\d+)/g;

/** The versions the document room's messages in one envelope reflect (none for rosters, pongs, closes). */
function documentVersions(payload: Uint8Array): number[] {
  const decoded = decodeRoomOutputBatch(payload);
  if (!decoded.ok) return [];
  const versions: number[] = [];
  for (const item of decoded.value.items)
    if ('message' in item)
      for (const match of item.message.matchAll(versionPattern))
        if (match[1] !== '0') versions.push(Number(match[1]));
  return versions;
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
      const { epoch, frame, payload } = decoded.envelope;
      const positions = this.kind === 'world' ? [frame] : documentVersions(payload);
      let seen = this.epochs.get(epoch);
      if (!seen) {
        seen = { first: now, last: now, minFrame: Infinity, maxFrame: -Infinity };
        this.epochs.set(epoch, seen);
      }
      seen.last = now;
      for (const position of positions) {
        seen.minFrame = Math.min(seen.minFrame, position);
        seen.maxFrame = Math.max(seen.maxFrame, position);
      }
      if (epoch > this.newestEpoch) {
        this.newestEpoch = epoch;
        this.newestFirstAt = now;
      }
    });
  }

  /** Pairs of epochs that produced the same positions. */
  get splitBrain(): number {
    const spans = [...this.epochs.entries()].sort(([a], [b]) => a - b);
    let overlaps = 0;
    for (let i = 0; i < spans.length; i++)
      for (let j = i + 1; j < spans.length; j++)
        // A new owner's first message may restate the position its predecessor ended on (the state it loaded).
        // An epoch with no positioned message (only pongs or closes) overlaps nothing: its range is empty.
        if (spans[i]![1].maxFrame > spans[j]![1].minFrame) overlaps++;
    return overlaps;
  }

  /** The epochs heard, for a failure's message: `epoch [minFrame..maxFrame] first-last ms`. */
  describe(): string {
    return [...this.epochs.entries()]
      .sort(([a], [b]) => a - b)
      .map(
        ([epoch, span]) =>
          `${epoch} [${span.minFrame}..${span.maxFrame}] ${Math.round(span.first)}-${Math.round(span.last)} ms`,
      )
      .join(', ');
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
