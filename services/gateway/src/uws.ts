import uWS, { type TemplatedApp, type us_listen_socket } from 'uWebSockets.js';

/**
 * The uWebSockets.js binding. The build we pin falls back to a slow pure-JS implementation on an unsupported Node
 * without failing: refuse to start on it instead of serving at a fraction of the speed.
 */
export function assertNativeUws(): void {
  const native = /\[native code\]/.test(Function.prototype.toString.call(uWS.App));
  if (!native) {
    throw new Error(
      `uWebSockets.js did not load its native addon on Node ${process.versions.node} (ABI ${process.versions.modules}); ` +
        'use Node 20 (or set an official uWebSockets.js build in package.json)',
    );
  }
}

/**
 * `app.listen(host, port, LIBUS_LISTEN_EXCLUSIVE_PORT, cb)`: the native addon takes options after the host, its
 * typings only after a bare port. Exclusive means without SO_REUSEPORT: a port in use fails (uWS's default shares it).
 */
export function listenExclusive(
  app: TemplatedApp,
  host: string,
  port: number,
  done: (socket: us_listen_socket | false) => void,
): void {
  const listen = app.listen as unknown as (
    host: string,
    port: number,
    options: number,
    cb: (socket: us_listen_socket | false) => void,
  ) => TemplatedApp;
  // The addon exports the flag as a plain number (the typings declare it inside an enum that does not exist at run time).
  const exclusive =
    (uWS as unknown as { LIBUS_LISTEN_EXCLUSIVE_PORT?: number }).LIBUS_LISTEN_EXCLUSIVE_PORT ?? 1;
  listen.call(app, host, port, exclusive, done);
}

export { uWS };
export type { HttpRequest, HttpResponse, TemplatedApp, WebSocket, us_listen_socket } from 'uWebSockets.js';
