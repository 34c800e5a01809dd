/**
 * Flushes the room links' input batches of one event-loop turn together, in one `setImmediate` callback: the bus
 * publishes of all rooms then leave in one socket write (nats.js writes what was published before the microtask
 * queue drains), where one callback per room would make one write each. Writes are the gateway's largest cost.
 */
export class InputFlusher {
  private readonly due = new Set<() => void>();
  private scheduled = false;

  /** Runs `flush` after this turn's I/O, once, together with the others scheduled meanwhile. */
  schedule(flush: () => void): void {
    this.due.add(flush);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const flushes = [...this.due];
      this.due.clear();
      for (const run of flushes) run();
    });
  }
}

/** One per process: every link's input leaves in the same turn's write. */
export const inputFlusher = new InputFlusher();
