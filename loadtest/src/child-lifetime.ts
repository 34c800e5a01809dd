/**
 * Makes a benchmark child process stop by itself: when its parent goes away (stdin ends), on SIGTERM/SIGINT, and
 * after `lifetimeMs` at the latest. `stop` runs once; the process exits when it settles (or 5 s later regardless).
 */
export function stopWithParent(lifetimeMs: number, stop: (reason: string) => Promise<void> | void): void {
  let stopping = false;
  const run = (reason: string): void => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(2), 5_000).unref();
    Promise.resolve()
      .then(() => stop(reason))
      .then(
        () => process.exit(0),
        (error: unknown) => {
          process.stderr.write(`stop failed: ${String(error)}\n`);
          process.exit(1);
        },
      );
  };
  process.stdin.on('end', () => run('parent closed stdin'));
  process.stdin.on('error', () => run('stdin error'));
  process.stdin.resume();
  process.on('SIGTERM', () => run('SIGTERM'));
  process.on('SIGINT', () => run('SIGINT'));
  setTimeout(() => run(`lifetime of ${lifetimeMs} ms reached`), lifetimeMs).unref();
}

/** One JSON object per stdout line: how the benchmark processes talk to the orchestrator. */
export function emitLine(value: object): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

/**
 * Resolves once everything written to stdout so far has gone to the pipe. A pipe's stdout is asynchronous in Node:
 * `process.exit` right after a large line (a summary with a wide latency histogram runs to megabytes) cuts it off.
 */
export function stdoutFlushed(): Promise<void> {
  return new Promise((resolve) => process.stdout.write('', () => resolve()));
}
