/**
 * Coalesces saves of a changing document (seed 003, open question 3: a built-in `saveThrottleMs`).
 *
 * - The first change after a save starts a timer of `throttleMs`; changes before it fires ride along, so there
 *   is at most one timed save per window and each save writes the state of the moment it runs.
 * - Saves never overlap: a save requested while one runs waits for it.
 * - A failed save is reported and the document stays dirty: the next change (or `flush`) retries it.
 * - `stop()` ends saving for good (a failed room must not save what its log did not keep).
 */
export class SaveScheduler {
  private dirty = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly save: () => Promise<void>,
    private readonly throttleMs: number,
    private readonly report: (error: unknown) => void,
  ) {}

  /** True while a change has not been saved yet. */
  get pending(): boolean {
    return this.dirty;
  }

  markDirty(): void {
    this.dirty = true;
    if (this.timer !== undefined || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.run().catch(this.report);
    }, this.throttleMs);
  }

  /** Saves now if anything is unsaved (after a running save). Rejects when that save fails. */
  flush(): Promise<void> {
    this.cancel();
    return this.run();
  }

  /** Stops the timer without saving. */
  cancel(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Never saves again (later `flush` calls resolve at once); resolves once a running save finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.cancel();
    while (this.running !== undefined) await this.running.catch(() => undefined);
  }

  private async run(): Promise<void> {
    while (this.running !== undefined) await this.running.catch(() => undefined);
    if (!this.dirty || this.stopped) return;
    this.dirty = false;
    const saving = this.save().catch((error: unknown) => {
      this.dirty = true;
      throw error;
    });
    this.running = saving;
    try {
      await saving;
    } finally {
      this.running = undefined;
    }
  }
}
