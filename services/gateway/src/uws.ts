import uWS from 'uWebSockets.js';

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

export { uWS };
export type { HttpRequest, HttpResponse, TemplatedApp, WebSocket, us_listen_socket } from 'uWebSockets.js';
