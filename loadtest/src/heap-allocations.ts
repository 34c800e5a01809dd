import { GCProfiler, getHeapStatistics } from 'node:v8';

/** What a process allocated on its JavaScript heap over a window, and what collecting it cost. */
export interface HeapAllocations {
  /** Bytes allocated on the V8 heap in the window (see `HeapAllocationMeter`). */
  readonly allocatedBytes: number;
  /** Garbage collections in the window (scavenges and mark-compacts alike), and their summed pause. */
  readonly gcCount: number;
  readonly gcPauseMs: number;
}

/**
 * Measures the bytes a process allocates on its JavaScript heap between `start()` and `stop()`: the used heap at
 * the end minus at the start, plus what every collection in between freed (its used heap before minus after, from
 * `v8.GCProfiler`, which reports both sides of each GC). V8 counts no allocations itself, but everything allocated
 * is either still there at the end or was freed by one of those collections. Off-heap memory (the backing stores
 * of the ArrayBuffers and Buffers sockets deliver) is not in it: the figure is the JavaScript objects made per
 * message (decoded messages, events, state copies...), which is what a collector has to chase.
 *
 * @example
 * const meter = new HeapAllocationMeter();
 * meter.start();
 * await window();
 * const { allocatedBytes, gcCount } = meter.stop();
 */
export class HeapAllocationMeter {
  private profiler: GCProfiler | undefined;
  private usedAtStart = 0;

  start(): void {
    this.profiler = new GCProfiler();
    this.profiler.start();
    this.usedAtStart = getHeapStatistics().used_heap_size;
  }

  stop(): HeapAllocations {
    const usedAtEnd = getHeapStatistics().used_heap_size;
    const result = this.profiler?.stop();
    this.profiler = undefined;
    let freed = 0;
    let pauseMicros = 0;
    const collections = result?.statistics ?? [];
    for (const gc of collections) {
      freed += gc.beforeGC.heapStatistics.usedHeapSize - gc.afterGC.heapStatistics.usedHeapSize;
      pauseMicros += gc.cost;
    }
    return {
      allocatedBytes: Math.max(0, usedAtEnd - this.usedAtStart + freed),
      gcCount: collections.length,
      gcPauseMs: pauseMicros / 1000,
    };
  }
}
