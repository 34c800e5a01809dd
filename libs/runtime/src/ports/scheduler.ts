import type { Clock } from './clock.js';

export type Cancel = () => void;

/** Runs callbacks later. The only source of time-driven work in the runtime, so tests can drive it by hand. */
export interface Scheduler {
  after(ms: number, run: () => void): Cancel;
}

export const timerScheduler: Scheduler = {
  after(ms, run) {
    const timer = setTimeout(run, Math.max(0, ms));
    return () => clearTimeout(timer);
  },
};

/** A scheduler driven by a ManualClock: `advance(ms)` runs everything due, in time order. */
export class ManualScheduler implements Scheduler {
  private tasks: Array<{ at: number; run: () => void; id: number }> = [];
  private ids = 0;

  constructor(private readonly clock: Clock & { advance(ms: number): void }) {}

  after(ms: number, run: () => void): Cancel {
    const task = { at: this.clock.now() + Math.max(0, ms), run, id: ++this.ids };
    this.tasks.push(task);
    return () => {
      this.tasks = this.tasks.filter((t) => t !== task);
    };
  }

  /** Moves the clock forward, running due tasks at their times (tasks may schedule more). */
  advance(ms: number): void {
    const end = this.clock.now() + ms;
    for (;;) {
      this.tasks.sort((a, b) => a.at - b.at || a.id - b.id);
      const next = this.tasks[0];
      if (!next || next.at > end) break;
      this.tasks.shift();
      this.clock.advance(Math.max(0, next.at - this.clock.now()));
      next.run();
    }
    this.clock.advance(Math.max(0, end - this.clock.now()));
  }

  get pending(): number {
    return this.tasks.length;
  }
}
