import type { HttpResponse } from '../uws.js';

/**
 * Helpers for uWS responses. An async handler must register onAborted before its first await and must not
 * write to an aborted response; writes are corked so status, headers and body leave in one syscall.
 */
export interface ResponseGuard {
  readonly aborted: boolean;
  /** Runs when the client goes away (uWS keeps a single onAborted handler per response: register here). */
  onAbort(handler: () => void): void;
}

export function guardResponse(res: HttpResponse): ResponseGuard {
  const handlers: Array<() => void> = [];
  const guard = {
    aborted: false,
    onAbort: (handler: () => void) => void handlers.push(handler),
  };
  res.onAborted(() => {
    guard.aborted = true;
    for (const handler of handlers) handler();
  });
  return guard;
}

export function sendText(
  res: HttpResponse,
  guard: ResponseGuard | undefined,
  status: string,
  body: string | Uint8Array,
  contentType = 'text/plain; charset=utf-8',
  headers: Record<string, string> = {},
): void {
  if (guard?.aborted) return;
  res.cork(() => {
    res.writeStatus(status).writeHeader('content-type', contentType);
    for (const [k, v] of Object.entries(headers)) res.writeHeader(k, v);
    res.end(body);
  });
}

export function sendJson(
  res: HttpResponse,
  guard: ResponseGuard | undefined,
  status: string,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  sendText(res, guard, status, JSON.stringify(body), 'application/json', headers);
}
