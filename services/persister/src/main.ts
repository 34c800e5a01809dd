import { pino } from 'pino';
import { configOrExit, drainOnSignals } from '@p3/runtime';
import { persisterConfigFromEnv } from './persister-config.js';
import { startPersister } from './persister.js';

/** `npm start`: one persister process, configured from P3_* variables (see README). */
async function main(): Promise<void> {
  const { config, warnings } = configOrExit((onUnknown) => persisterConfigFromEnv(process.env, onUnknown));
  const logger = pino({ level: config.logLevel });
  for (const warning of warnings) logger.warn(warning);
  const persister = await startPersister(config, { logger });
  console.log(`persister listening on ${persister.port}`);

  drainOnSignals(logger, 'no new snapshots are pulled, writes in flight finish and are acked', () =>
    persister.close(),
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
