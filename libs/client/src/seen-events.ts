import type { GameEvent } from '@p3/protocol';

/**
 * Remembers which event ids were delivered, so that an event re-sent inside a corrected frame is not delivered
 * twice. Ids are kept while a correction could still re-send them (the room's buffer window, plus margin).
 */
export class SeenEvents {
  /** id -> frame it was seen in */
  private readonly seen = new Map<string, number>();

  constructor(private window = 20) {}

  setWindow(frames: number): void {
    this.window = Math.max(1, frames);
  }

  /** The events of frame `frame` not delivered before (and marks them delivered). */
  fresh(events: readonly GameEvent[], frame: number): readonly GameEvent[] {
    if (events.length === 0 && this.seen.size === 0) return events;
    const out: GameEvent[] = [];
    for (const event of events) {
      if (this.seen.has(event.id)) continue;
      this.seen.set(event.id, frame);
      out.push(event);
    }
    this.prune(frame);
    return out;
  }

  /** A room that restarted from a snapshot at `frame` may issue the same ids again for later frames. */
  forgetAfter(frame: number): void {
    for (const [id, at] of this.seen) if (at > frame) this.seen.delete(id);
  }

  private prune(latest: number): void {
    const oldest = latest - 2 * this.window - 2;
    for (const [id, at] of this.seen) if (at < oldest) this.seen.delete(id);
  }
}
