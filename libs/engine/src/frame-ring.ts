import type { Frame } from '@p3/protocol';
import type { Command } from './commands.js';
import { UndoLog } from './undo-log.js';

/** One past frame: what clients saw, what was applied in it, and how to take it back. */
export interface FrameRecord {
  frame: Frame;
  readonly commands: Command[];
  /** Absent for frames restored from a snapshot: those can be read but not rewound. */
  readonly undo: UndoLog | undefined;
}

/** The last `capacity` frames, addressed by frame id. */
export class FrameRing {
  private readonly slots: (FrameRecord | undefined)[];

  constructor(readonly capacity: number) {
    this.slots = new Array<FrameRecord | undefined>(Math.max(1, capacity));
  }

  get(id: number): FrameRecord | undefined {
    const record = this.slots[id % this.slots.length];
    return record !== undefined && record.frame.id === id ? record : undefined;
  }

  /**
   * An undo log for a new record of frame `id`: the one of the record that frame will replace in its slot (an
   * older frame leaving the window, or the same frame being re-run after its log was rolled back), else a new one.
   */
  undoLogFor(id: number): UndoLog {
    return this.slots[id % this.slots.length]?.undo ?? new UndoLog();
  }

  set(record: FrameRecord): void {
    this.slots[record.frame.id % this.slots.length] = record;
  }

  /** Records held, oldest first. */
  records(): FrameRecord[] {
    return this.slots
      .filter((r): r is FrameRecord => r !== undefined)
      .sort((a, b) => a.frame.id - b.frame.id);
  }
}
