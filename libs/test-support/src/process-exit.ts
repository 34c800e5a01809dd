// Process-wide by necessity: exit and signal handlers are the only place left to kill servers a test forgot to
// close, and a server started in one test file must not outlive the worker that ran it.
const exitCleanups = new Set<() => void>();
let exitHookInstalled = false;

function runExitCleanups(): void {
  for (const cleanup of [...exitCleanups]) {
    exitCleanups.delete(cleanup);
    try {
      cleanup();
    } catch {
      // Best effort: the process is going away either way.
    }
  }
}

/**
 * Runs `cleanup` (synchronously: nothing asynchronous runs at exit) when the process exits or is ended by
 * SIGTERM, SIGINT or SIGHUP, unless the returned function was called first. For children and namespaces a test
 * forgot, or could not, close. Nothing runs on SIGKILL: see `cleanupStaleDependencyServers`.
 */
export function onProcessExit(cleanup: () => void): () => void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', runExitCleanups);
    // Vitest ends a fork worker with SIGTERM, which skips 'exit' handlers: without these, every server a file
    // left running would outlive it.
    for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
      process.once(signal, () => {
        runExitCleanups();
        // If we were the only listener, die of the signal as its default action would have.
        if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
      });
    }
  }
  exitCleanups.add(cleanup);
  return () => {
    exitCleanups.delete(cleanup);
  };
}
