import { Counter, Gauge, type Registry } from 'prom-client';
import type { RoomHost } from '@p3/runtime';

export class SimulatorMetrics {
  readonly frames: Counter;
  readonly corrections: Counter;
  readonly framesDropped: Counter;
  readonly logicErrors: Counter;

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
    this.logicErrors = new Counter({
      name: `${prefix}logic_errors_total`,
      help: 'Exceptions thrown by world logic during ticks',
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
