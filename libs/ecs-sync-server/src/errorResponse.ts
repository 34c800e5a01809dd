import {
  decodeJsonWire,
  ecsSyncLimits,
  type CodecLimits,
  type EcsSyncErrorResponse,
  type P3Error,
} from '@p3/protocol';

/** The `error` message refusing a client message; the reason is cut to stay readable. */
export function errorResponse(error: P3Error, messageId?: string): EcsSyncErrorResponse {
  const reason = error.message.length > 200 ? `${error.message.slice(0, 200)}...` : error.message;
  return { type: 'error', code: error.code, reason, ...(messageId === undefined ? {} : { messageId }) };
}

/**
 * The messageId of a refused message, when the message is JSON within the limits and carries a valid one (the
 * decoder failed past parsing, e.g. on a bad patch): the client can then match the error to its message.
 */
export function salvageMessageId(wire: string | Uint8Array, limits: CodecLimits): string | undefined {
  const parsed = decodeJsonWire(wire, limits, ecsSyncLimits.maxKeysPerPatch);
  if (
    !parsed.ok ||
    parsed.value === null ||
    typeof parsed.value !== 'object' ||
    Array.isArray(parsed.value)
  ) {
    return undefined;
  }
  const id = parsed.value.messageId;
  const valid = typeof id === 'string' && id.length > 0 && id.length <= ecsSyncLimits.maxMessageIdLength;
  return valid ? id : undefined;
}
