import type { NamedPid } from './arena-cluster.js';
import { clockTicksPerSecond, processCpuTicks, processRssBytes, systemCpu } from './proc-stats.js';

/** One process over a measured window. */
export interface ProcessFigures {
  readonly name: string;
  /** utime + stime over the window, % of one core. */
  readonly cpuPercent: number;
  /** VmRSS at the window's end (bytes; 0 once the process is gone). */
  readonly rssBytes: number;
}

/** CPU of named processes and of the whole machine over a window. */
export interface CpuWindowFigures {
  readonly seconds: number;
  readonly processes: readonly ProcessFigures[];
  /** Every other process of the machine (the other engineer's tests, the bench's orchestrator), % of one core. */
  readonly otherCpuPercent: number;
}

/**
 * Reads the CPU counters of `processes` now; `end()` reads them again and gives each one's share of a core over the
 * time between. A process gone by then counts 0 (its counters are gone with it).
 */
export function startCpuWindow(processes: readonly NamedPid[]): { end(): CpuWindowFigures } {
  const at = performance.now();
  const system = systemCpu();
  const ticks = processes.map((p) => ticksOf(p.pid));
  return {
    end() {
      const seconds = (performance.now() - at) / 1000;
      const used = processes.map((p, i) => Math.max(0, ticksOf(p.pid) - (ticks[i] ?? 0)));
      const perCore = (n: number): number => (n / clockTicksPerSecond() / Math.max(seconds, 1e-3)) * 100;
      const busy = systemCpu().busy - system.busy;
      return {
        seconds,
        processes: processes.map((p, i) => ({
          name: p.name,
          cpuPercent: perCore(used[i] ?? 0),
          rssBytes: rssOf(p.pid),
        })),
        otherCpuPercent: Math.max(0, perCore(busy - used.reduce((a, b) => a + b, 0))),
      };
    },
  };
}

function ticksOf(pid: number): number {
  try {
    return processCpuTicks(pid);
  } catch {
    return 0;
  }
}

function rssOf(pid: number): number {
  try {
    return processRssBytes(pid);
  } catch {
    return 0;
  }
}
