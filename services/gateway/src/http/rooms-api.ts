import { ErrorCode, P3Error, parseJson, validatePatch, type Patch, type Result } from '@p3/protocol';
import type { DocumentApi, DocumentBootstrap, DocumentFeed, Principal } from '@p3/runtime';
import type { GatewayExtension } from '../gateway.js';
import type { HttpRequest, HttpResponse } from '../uws.js';
import { ChangeStream } from './change-stream.js';
import { bearerToken, isRoomId, sendError } from './http-errors.js';
import { guardResponse, sendJson, type ResponseGuard } from './http-response.js';

export interface RoomsApiOptions {
  /** The document rooms: this process's (LocalDocumentApi) or the cluster's (RemoteDocumentApi). */
  readonly rooms: DocumentApi;
  /** Largest POST body. Default 1 MiB. */
  readonly maxBodyBytes?: number;
  /** Objects per written chunk of a streamed bootstrap. Default 500. */
  readonly chunkObjects?: number;
  /** Server-sent-events keepalive comment period. Default 15 s. */
  readonly keepaliveMs?: number;
}

/**
 * Seed 002 over HTTP, on the document rooms `/ecs-sync` uses (one state model):
 * - `GET /v1/rooms/{id}/bootstrap`: every live object, streamed; `?since=V`: only what changed after version V,
 *   with tombstones (`_exists: false`) and `cleared` re-creations; a V older than the retained tombstones answers
 *   the full state with `full: true` and a `reason`.
 * - `POST /v1/rooms/{id}/changes` `{"patches": [ {key: {field: value}} ]}`: last-write-wins apply, broadcast to the
 *   room's sockets; answers the new version once the change is durable (an answer means kept).
 * - `GET /v1/rooms/{id}/sync`: server-sent events, one `change` event per applied change with its version as the
 *   event id; resumes after `Last-Event-ID` (header, or `?lastEventId=`) with the changes missed meanwhile. The
 *   stream ends when the room closes (the client resumes on a reloaded room). A slow reader is never buffered
 *   for: see ChangeStream (it falls behind, then gets one resume event, or is closed and resumes itself).
 * `POST` bodies must be `application/json` (415 otherwise); browser requests from other origins get 403
 * (OriginPolicy).
 * Nothing is written before the state it shows is durable (every DocumentApi answer is): a client never holds a
 * version a crash could take back.
 * Auth: `Authorization: Bearer <jwt>` (or `?token=`); a room is visible only to its team.
 */
export function roomsApi(options: RoomsApiOptions): GatewayExtension {
  const maxBody = options.maxBodyBytes ?? 1024 * 1024;
  const chunk = options.chunkObjects ?? 500;
  const keepaliveMs = options.keepaliveMs ?? 15_000;
  return {
    register(app, { auth, config, origins, metrics }) {
      /** Checked before anything else, while `req` is valid: a browser page of another site is refused (403). */
      const foreign = (req: HttpRequest): P3Error | undefined =>
        origins.check(req.getHeader('origin'), req.getHeader('host'));
      const open = async (
        res: HttpResponse,
        guard: ResponseGuard,
        id: string,
        token: string | undefined,
      ): Promise<{ principal: Principal | undefined } | undefined> => {
        if (!isRoomId(id)) {
          sendError(
            res,
            guard,
            new P3Error(ErrorCode.InvalidMessage, 'room ids hold letters, digits and _ . : - (1-128)'),
          );
          return undefined;
        }
        const principal = await auth.authenticate(token, { tenant: config.tenant, room: `doc/${id}` });
        if (guard.aborted) return undefined;
        if (!principal.ok) {
          sendError(res, guard, principal.error);
          return undefined;
        }
        return { principal: principal.value };
      };

      app.get('/v1/rooms/:id/bootstrap', (res, req) => {
        const refused = foreign(req);
        if (refused) return sendError(res, undefined, refused);
        const id = req.getParameter(0) ?? '';
        const token = bearerToken(req);
        const sinceText = req.getQuery('since');
        const guard = guardResponse(res);
        void (async () => {
          const since = sinceText === undefined || sinceText === '' ? undefined : Number(sinceText);
          if (since !== undefined && (!Number.isSafeInteger(since) || since < 0)) {
            return sendError(
              res,
              guard,
              new P3Error(ErrorCode.InvalidMessage, 'since must be an integer >= 0'),
            );
          }
          const opened = await open(res, guard, id, token);
          if (!opened) return;
          const answer = await options.rooms.bootstrap(id, opened.principal, since);
          if (guard.aborted) return;
          if (!answer.ok) return sendError(res, guard, answer.error);
          await streamBootstrap(res, guard, id, answer.value, chunk);
        })().catch((error: unknown) =>
          sendError(res, guard, new P3Error(ErrorCode.Internal, 'bootstrap failed', { cause: error })),
        );
      });

      app.post('/v1/rooms/:id/changes', (res, req) => {
        // A form or text/plain POST is what a page of another site can send without asking (no CORS preflight).
        const refused = foreign(req) ?? mediaTypeError(req.getHeader('content-type'));
        if (refused) return sendError(res, undefined, refused);
        const id = req.getParameter(0) ?? '';
        const token = bearerToken(req);
        const guard = guardResponse(res);
        const body = readBody(res, maxBody);
        void (async () => {
          const opened = await open(res, guard, id, token);
          if (!opened) return;
          const bytes = await body;
          if (guard.aborted) return;
          if (bytes === undefined)
            return sendError(
              res,
              guard,
              new P3Error(ErrorCode.TooLarge, `body larger than ${maxBody} bytes`),
            );
          const patches = parseChanges(bytes);
          if (patches instanceof P3Error) return sendError(res, guard, patches);
          const origin = `http:${opened.principal?.user ?? 'anonymous'}`;
          const changed = await options.rooms.change(id, opened.principal, patches, origin);
          if (!changed.ok) return sendError(res, guard, changed.error);
          sendJson(res, guard, '200 OK', { room: id, version: changed.value.version });
        })().catch((error: unknown) =>
          sendError(res, guard, new P3Error(ErrorCode.Internal, 'change failed', { cause: error })),
        );
      });

      app.get('/v1/rooms/:id/sync', (res, req) => {
        const refused = foreign(req);
        if (refused) return sendError(res, undefined, refused);
        const id = req.getParameter(0) ?? '';
        const token = bearerToken(req);
        const lastEventId = req.getHeader('last-event-id') || req.getQuery('lastEventId') || '';
        const guard = guardResponse(res);
        void (async () => {
          const resumeFrom = lastEventId === '' ? undefined : Number(lastEventId);
          if (resumeFrom !== undefined && (!Number.isSafeInteger(resumeFrom) || resumeFrom < 0)) {
            return sendError(
              res,
              guard,
              new P3Error(ErrorCode.InvalidMessage, 'Last-Event-ID must be a version (integer >= 0)'),
            );
          }
          const opened = await open(res, guard, id, token);
          if (!opened) return;
          let feed: Result<DocumentFeed>;
          try {
            feed = await options.rooms.follow(id, opened.principal);
          } catch (cause) {
            feed = {
              ok: false,
              error: new P3Error(ErrorCode.Internal, 'following the room failed', { cause }),
            };
          }
          if (guard.aborted) return;
          if (!feed.ok && transientFollowErrors.has(feed.error.code)) {
            // The room is between owners (a failover) or its owner did not answer: an EventSource never retries
            // after an error status, so the stream opens and ends at once with a retry delay; the client comes
            // back with its Last-Event-ID.
            const { code, message } = feed.error;
            res.cork(() =>
              res
                .writeStatus('200 OK')
                .writeHeader('content-type', 'text/event-stream')
                .writeHeader('cache-control', 'no-store')
                .end(`retry: 1000\n: ${code}: ${message.replace(/\s+/g, ' ')}\n\n`),
            );
            return;
          }
          if (!feed.ok) return sendError(res, guard, feed.error);
          new ChangeStream(res, guard, feed.value, {
            resumeFrom,
            keepaliveMs,
            maxLagMs: config.sse.maxLagMs,
            metrics,
          }).start();
        })().catch((error: unknown) =>
          sendError(res, guard, new P3Error(ErrorCode.Internal, 'sync failed', { cause: error })),
        );
      });
    },
  };
}

/** Writes the bootstrap in chunks, waiting for the socket to drain between them (large rooms never sit in memory twice). */
/**
 * Failures to follow a room that pass: a failover (no owner yet), an owner that did not answer or failed. The
 * stream ends with a retry delay instead of an error status, which an EventSource would never retry.
 */
const transientFollowErrors = new Set<string>([ErrorCode.RoomUnavailable, ErrorCode.Internal]);

async function streamBootstrap(
  res: HttpResponse,
  guard: ResponseGuard,
  id: string,
  answer: DocumentBootstrap,
  chunk: number,
): Promise<void> {
  const { version, full, since, reason, objects } = answer;
  const head = {
    room: id,
    version,
    ...(since === undefined || full ? {} : { since }),
    full,
    ...(reason === undefined ? {} : { reason }),
  };
  if (guard.aborted) return;
  const prefix = `${JSON.stringify(head).slice(0, -1)},"objects":[`;
  res.cork(() => {
    res
      .writeStatus('200 OK')
      .writeHeader('content-type', 'application/json')
      .writeHeader('cache-control', 'no-store');
    res.write(prefix);
  });
  for (let i = 0; i < objects.length; i += chunk) {
    if (guard.aborted) return;
    const part = objects
      .slice(i, i + chunk)
      .map((o) => JSON.stringify(o))
      .join(',');
    let drained = true;
    res.cork(() => {
      drained = res.write(i === 0 ? part : `,${part}`);
    });
    if (!drained) {
      await new Promise<void>((resolve) =>
        res.onWritable(() => {
          resolve();
          return true;
        }),
      );
    }
  }
  if (!guard.aborted) res.cork(() => res.end(']}'));
}

/** `POST /changes` takes `application/json` only (parameters such as `charset` aside). */
function mediaTypeError(contentType: string): P3Error | undefined {
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  if (type === 'application/json') return undefined;
  return new P3Error(
    ErrorCode.UnsupportedMediaType,
    `the body must be application/json (got ${type === '' ? 'no content-type' : type.slice(0, 100)})`,
  );
}

function parseChanges(bytes: Uint8Array): Patch[] | P3Error {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return new P3Error(ErrorCode.Malformed, 'body is not valid UTF-8');
  }
  const parsed = parseJson(text, { maxLength: bytes.byteLength + 1, maxDepth: 32, maxKeys: 10_000 });
  if (!parsed.ok) return parsed.error;
  const body = parsed.value;
  if (body === null || typeof body !== 'object' || Array.isArray(body) || !Array.isArray(body.patches)) {
    return new P3Error(ErrorCode.InvalidMessage, 'body must be {"patches": [ {key: {field: value}} ]}');
  }
  if (body.patches.length > 1024) return new P3Error(ErrorCode.TooLarge, 'at most 1024 patches per request');
  const patches: Patch[] = [];
  for (const candidate of body.patches) {
    const patch = validatePatch(candidate);
    if (!patch.ok) return patch.error;
    patches.push(patch.value);
  }
  return patches;
}

/** Collects a request body up to `limit` bytes; undefined when it is larger (the rest is ignored). */
function readBody(res: HttpResponse, limit: number): Promise<Uint8Array | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    res.onData((chunk, isLast) => {
      if (!over) {
        size += chunk.byteLength;
        if (size > limit) over = true;
        else chunks.push(Buffer.from(chunk.slice(0)));
      }
      if (isLast) resolve(over ? undefined : new Uint8Array(Buffer.concat(chunks)));
    });
  });
}
