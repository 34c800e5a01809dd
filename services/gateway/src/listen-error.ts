import { createServer } from 'node:net';

const hints: Readonly<Record<string, string>> = {
  EADDRINUSE: 'another process listens on this port: stop it, or choose another port (P3_PORT)',
  EACCES: 'ports below 1024 need privileges: choose another port (P3_PORT)',
  EADDRNOTAVAIL: 'this host has no such address: check P3_HOST',
};

/**
 * The gateway could not listen ([LISTEN-1] in the gateway's SPEC.md). `code` is the system error (`EADDRINUSE`,
 * `EACCES`, `EADDRNOTAVAIL`, ...) or `LISTEN_FAILED` when it could not be found out; the message names the address.
 *
 * @example
 * try { await server.listen(); } catch (e) { if (e instanceof GatewayListenError) { console.error(e.message); process.exit(1); } }
 */
export class GatewayListenError extends Error {
  override readonly name = 'GatewayListenError';

  constructor(
    readonly code: string,
    readonly host: string,
    readonly port: number,
  ) {
    super(`cannot listen on ${host}:${port}: ${code}${hints[code] ? ` (${hints[code]})` : ''}`);
  }
}

/**
 * Why uWebSockets.js could not listen (it only says that it could not): binds the same address with `node:net`
 * and reports that error.
 */
export function listenFailure(host: string, port: number): Promise<GatewayListenError> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', (error: NodeJS.ErrnoException) =>
      resolve(new GatewayListenError(error.code ?? 'LISTEN_FAILED', host, port)),
    );
    probe.listen({ host, port, exclusive: true }, () =>
      probe.close(() => resolve(new GatewayListenError('LISTEN_FAILED', host, port))),
    );
  });
}
