import { ErrorCode, type P3Error } from '@p3/protocol';
import type { HttpRequest, HttpResponse } from '../uws.js';
import { sendJson, type ResponseGuard } from './http-response.js';

const statuses: Partial<Record<ErrorCode, string>> = {
  [ErrorCode.Unauthorized]: '401 Unauthorized',
  [ErrorCode.Forbidden]: '403 Forbidden',
  [ErrorCode.TooLarge]: '413 Payload Too Large',
  [ErrorCode.RateLimited]: '429 Too Many Requests',
  [ErrorCode.ByteRateLimited]: '429 Too Many Requests',
  [ErrorCode.OriginNotAllowed]: '403 Forbidden',
  [ErrorCode.UnsupportedMediaType]: '415 Unsupported Media Type',
  [ErrorCode.QuotaExceeded]: '503 Service Unavailable',
  [ErrorCode.Internal]: '500 Internal Server Error',
  [ErrorCode.RoomUnavailable]: '503 Service Unavailable',
};

/** Every HTTP refusal: a status, and `{code, reason}` with a stable code (the same codes as the WebSocket errors). */
export function sendError(res: HttpResponse, guard: ResponseGuard | undefined, error: P3Error): void {
  const status = statuses[error.code] ?? '400 Bad Request';
  const headers: Record<string, string> =
    error.code === ErrorCode.Unauthorized
      ? {
          'www-authenticate': `Bearer error="invalid_token", error_description="${error.message.replace(/"/g, "'")}"`,
        }
      : {};
  sendJson(res, guard, status, { code: error.code, reason: error.message }, headers);
}

/** The bearer token of a request: `Authorization: Bearer …`, or `?token=` (EventSource and WebSocket cannot set headers). */
export function bearerToken(req: HttpRequest): string | undefined {
  const header = req.getHeader('authorization');
  const match = /^Bearer\s+(.+)$/i.exec(header);
  if (match) return match[1]!.trim();
  const query = req.getQuery('token');
  return query === undefined || query === '' ? undefined : query;
}

const roomIdPattern = /^[A-Za-z0-9_.:-]{1,128}$/;

export function isRoomId(id: string): boolean {
  return roomIdPattern.test(id);
}
