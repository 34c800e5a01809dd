/** Runs `run` repeatedly for at least `minMs` after a warm-up and answers runs per second (benchmarks only). */
export function runsPerSecond(run: () => void, minMs: number, warmup = 20): number {
  for (let i = 0; i < warmup; i++) run();
  let count = 0;
  const started = performance.now();
  while (performance.now() - started < minMs) {
    run();
    count++;
  }
  return (count * 1000) / (performance.now() - started);
}

export type RunsPerSecond = typeof runsPerSecond;
