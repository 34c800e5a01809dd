import { GatewayListenError } from '@p3/gateway';
import { P3Server } from '@p3/server';

/**
 * A P3Server in a process of its own on `PORT` (what a second `npm start` does). Prints `ready <port>`, or
 * `error <code> <message>` and exits 1 when it cannot listen.
 */
const server = new P3Server({
  host: process.env.HOST ?? '127.0.0.1',
  port: Number(process.env.PORT ?? 0),
  instanceId: 'listen',
  storage: 'memory',
  logLevel: 'silent',
});
try {
  await server.listen();
  process.stdout.write(`ready ${server.port}\n`);
} catch (error) {
  const code = error instanceof GatewayListenError ? error.code : 'UNTYPED';
  process.stdout.write(`error ${code} ${(error as Error).message}\n`);
  await server.close();
  process.exit(1);
}
