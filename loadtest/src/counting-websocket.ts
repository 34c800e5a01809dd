import WebSocket from 'ws';

/**
 * The `ws` WebSocket (what both SDKs load in Node 20, which has no global WebSocket), counting the payload bytes
 * of every message it receives: installed as `globalThis.WebSocket` in a load process, it lets the bench count
 * what an SDK receives while the SDK runs at its defaults (the P3 SDK and Colyseus's both take the global
 * WebSocket when there is one). Only a listener is added; the SDK sets its own handlers and `binaryType` as usual.
 * Bytes are WebSocket payloads after any permessage-deflate (the `ws` client offers it; neither server takes it).
 */
export function countingWebSocket(received: (bytes: number) => void): WebSocketClass {
  return class CountingWebSocket extends WebSocket {
    constructor(
      address: string | URL,
      protocols?: string | string[] | WebSocket.ClientOptions,
      options?: WebSocket.ClientOptions,
    ) {
      // ws takes an options object in the place of the protocols too (Colyseus's SDK passes it there).
      super(address, protocols as string | string[] | undefined, options);
      this.on('message', (data: WebSocket.RawData) => received(byteLength(data)));
    }
  };
}

/** A client WebSocket constructor with `ws`'s signature. */
export type WebSocketClass = new (
  address: string | URL,
  protocols?: string | string[] | WebSocket.ClientOptions,
  options?: WebSocket.ClientOptions,
) => WebSocket;

/** Makes `ctor` the WebSocket every SDK loaded afterwards (or dialling afterwards) picks up. */
export function installGlobalWebSocket(ctor: WebSocketClass): void {
  (globalThis as { WebSocket?: unknown }).WebSocket = ctor;
}

function byteLength(data: WebSocket.RawData): number {
  if (!Array.isArray(data)) return data.byteLength;
  let n = 0;
  for (const part of data) n += part.byteLength;
  return n;
}
