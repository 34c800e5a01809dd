import type { Logger } from 'pino';

/**
 * A service's `main.ts` ending: on the first SIGTERM or SIGINT, log `draining` (what the service does while it
 * drains), run `close`, then exit 0 (1 when closing failed). A second signal while draining is ignored: an
 * orchestrator's repeated SIGTERM must not cut a drain short (SIGKILL does that).
 *
 * @example
 * drainOnSignals(logger, 'rooms take a final snapshot', () => server.close());
 */
export function drainOnSignals(logger: Logger, draining: string, close: () => Promise<void>): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, `draining: ${draining}`);
    close()
      .then(() => process.exit(0))
      .catch((error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
