import type { WireData } from '@p3/protocol';

/**
 * The part of the WebSocket API the client uses, so the browser's `WebSocket`, the `ws` package and test doubles
 * all fit. Handler properties are declared as methods' types (checked bivariantly) so that both the DOM's
 * `(ev: MessageEvent) => any` and ws's `(event: WebSocket.MessageEvent) => void` are accepted.
 */
export interface WebSocketLike {
  binaryType: string;
  readonly protocol: string;
  readonly readyState: number;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
  onopen: Handler<unknown> | null;
  onmessage: Handler<{ readonly data: unknown }> | null;
  onclose: Handler<{ readonly code: number; readonly reason: string }> | null;
  onerror: Handler<unknown> | null;
}

type Handler<E> = { bivarianceHack(event: E): void }['bivarianceHack'];

/** A WebSocket-compatible constructor: `globalThis.WebSocket`, `ws`'s `WebSocket`, or your own. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** `readyState` of an open socket (the same in every implementation). */
export const OPEN = 1;

/**
 * The default transport: the platform's WebSocket (browsers, Deno, Node 22+), else the `ws` package loaded on
 * demand in Node. The specifier is a variable so that bundlers for the browser do not try to include `ws`.
 */
export async function defaultTransport(): Promise<WebSocketConstructor> {
  const platform = (globalThis as { WebSocket?: unknown }).WebSocket;
  if (typeof platform === 'function') return platform as WebSocketConstructor;
  const specifier = 'ws';
  const loaded: unknown = await import(/* @vite-ignore */ specifier);
  const candidates = [
    pick(loaded, 'WebSocket'),
    pick(pick(loaded, 'default'), 'WebSocket'),
    pick(loaded, 'default'),
  ];
  const found = candidates.find((c) => typeof c === 'function');
  if (found === undefined)
    throw new Error('no WebSocket available: pass `transport` or install the `ws` package');
  return found as WebSocketConstructor;
}

function pick(value: unknown, key: string): unknown {
  return value !== null && (typeof value === 'object' || typeof value === 'function')
    ? (value as Record<string, unknown>)[key]
    : undefined;
}

/**
 * What a socket delivered, as the codecs read it: text stays text, binary becomes a Uint8Array view (no copy).
 * Undefined for what no codec reads (a Blob when `binaryType` could not be set).
 */
export function toWireData(data: unknown): WireData | undefined {
  if (typeof data === 'string') return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  // A Node Buffer (ws, binaryType 'nodebuffer') is a Uint8Array already: read in place, no view per message.
  if (data instanceof Uint8Array) return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (Array.isArray(data) && data.every((part) => ArrayBuffer.isView(part))) {
    // ws with binaryType 'fragments'
    const parts = data as ArrayBufferView[];
    const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
    let at = 0;
    for (const p of parts) {
      out.set(new Uint8Array(p.buffer, p.byteOffset, p.byteLength), at);
      at += p.byteLength;
    }
    return out;
  }
  return undefined;
}
