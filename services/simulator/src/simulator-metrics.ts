import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { RoomHost } from '@p3/runtime';

export class SimulatorMetrics {
  readonly frames: Counter;
  readonly corrections: Counter;
  readonly framesDropped: Counter;
  /** Client ops submitted to rooms (what `opsLate` is a share of). */
  readonly ops: Counter;
  /** Ops that came after the room simulated their frame: applied by re-simulation, or refused as too old. */
  readonly opsLate: Counter<'outcome'>;
  readonly opsLateResimulated: Counter.Internal;
  readonly opsLateDropped: Counter.Internal;
  readonly logicErrors: Counter;
  readonly tickLateness: Histogram;
  readonly tickWork: Histogram;
  readonly logAppend: Histogram;

  constructor(registry: Registry, host: () => RoomHost | undefined, prefix = 'p3_simulator_') {
    const registers = [registry];
    this.frames = new Counter({
      name: `${prefix}frames_total`,
      help: 'Frames simulated (all rooms)',
      registers,
    });
    this.corrections = new Counter({
      name: `${prefix}corrected_frames_total`,
      help: 'Past frames re-issued as corrected after late inputs',
      registers,
    });
    this.framesDropped = new Counter({
      name: `${prefix}frames_dropped_total`,
      help: 'Ops refused for frames older than the buffer window',
      registers,
    });
    this.ops = new Counter({
      name: `${prefix}ops_total`,
      help: 'Client ops submitted to rooms (duplicates not counted)',
      registers,
    });
    // Late ops cost corrections (re-simulation, re-sent frames) or are lost: the SDK stamps ops to keep this near 0.
    this.opsLate = new Counter({
      name: `${prefix}ops_late_total`,
      help: 'Client ops stamped for a frame the room had already simulated: resimulated (applied, frames corrected) or dropped (older than the buffer window, refused)',
      labelNames: ['outcome'] as const,
      registers,
    });
    this.opsLateResimulated = this.opsLate.labels('resimulated');
    this.opsLateDropped = this.opsLate.labels('dropped');
    // Exported from the start (a child appears on its first inc): a rate of 0 is an answer, a missing series is not.
    this.opsLateResimulated.inc(0);
    this.opsLateDropped.inc(0);
    this.logicErrors = new Counter({
      name: `${prefix}logic_errors_total`,
      help: 'Exceptions thrown by world logic during ticks',
      registers,
    });
    // Both add to every member's latency on top of the wait for the next tick: a room's budget is lateness + work.
    const tickBuckets = [
      0.0005, 0.001, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.05, 0.1, 0.5,
    ];
    this.tickLateness = new Histogram({
      name: `${prefix}tick_lateness_seconds`,
      help: 'How late tick timers ran after their frame was due (timer granularity, busy event loop, GC pauses)',
      buckets: tickBuckets,
      registers,
    });
    this.tickWork = new Histogram({
      name: `${prefix}tick_seconds`,
      help: 'Time a room spent in one tick timer: simulation, encoding and publishing its frames',
      buckets: tickBuckets,
      registers,
    });
    this.logAppend = new Histogram({
      name: `${prefix}log_append_seconds`,
      help: 'Time from a step appending its record to the room log until it was durable (acks wait for it)',
      buckets: [0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1],
      registers,
    });
    new Gauge({
      name: `${prefix}rooms`,
      help: 'Rooms hosted',
      registers,
      collect() {
        this.set(host()?.roomCount ?? 0);
      },
    });
    new Gauge({
      name: `${prefix}members`,
      help: 'Members of hosted rooms (attached or within their resume grace)',
      registers,
      collect() {
        this.set(
          host()
            ?.rooms()
            .reduce((n, r) => n + r.memberCount, 0) ?? 0,
        );
      },
    });
  }
}
