import type { ClientCodec, CodecLimits, ServerCodec, WireData } from './codec.js';
import { defaultCodecLimits } from './codec.js';
import { ErrorCode, fail, type Result } from './errors.js';
import { parseJson, type JsonValue } from './json-value.js';
import type { ClientMessage, ServerMessage } from './messages.js';
import { validateClientMessage } from './validate-client-message.js';
import { validateServerMessage } from './validate-server-message.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Decodes text or UTF-8 bytes into a JSON value under the limits; invalid UTF-8 is MALFORMED.
 * `maxKeys` bounds the keys of any one object (ecs-sync patches allow more than P3 messages need).
 */
export function decodeJsonWire(data: WireData, limits: CodecLimits, maxKeys = 4096): Result<JsonValue> {
  let text: string;
  if (typeof data === 'string') {
    text = data;
  } else {
    if (data.byteLength > limits.maxMessageBytes) {
      return fail(
        ErrorCode.TooLarge,
        `message of ${data.byteLength} bytes exceeds ${limits.maxMessageBytes}`,
      );
    }
    try {
      text = utf8.decode(data);
    } catch {
      return fail(ErrorCode.Malformed, 'message is not valid UTF-8');
    }
  }
  return parseJson(text, { maxLength: limits.maxMessageBytes, maxDepth: limits.maxDepth, maxKeys });
}

/** The debuggable codec: one JSON object per WebSocket text message. */
export class JsonCodec implements ServerCodec, ClientCodec {
  readonly name = 'json' as const;
  readonly limits: CodecLimits;

  constructor(limits: Partial<CodecLimits> = {}) {
    this.limits = mergeCodecLimits(limits);
  }

  decodeClient(data: WireData): Result<ClientMessage> {
    const parsed = decodeJsonWire(data, this.limits);
    return parsed.ok ? validateClientMessage(parsed.value) : parsed;
  }

  encodeServer(message: ServerMessage): string {
    return JSON.stringify(message);
  }

  encodeClient(message: ClientMessage): string {
    return JSON.stringify(message);
  }

  decodeServer(data: WireData): Result<ServerMessage> {
    // Server messages (welcome with a large world) may exceed the client->server limit.
    const parsed = decodeJsonWire(data, {
      ...this.limits,
      maxMessageBytes: Math.max(this.limits.maxMessageBytes, 256 << 20),
    });
    return parsed.ok ? validateServerMessage(parsed.value) : parsed;
  }
}

/**
 * Fills missing limits with the defaults. A spread would let `{ maxDepth: undefined }` (or NaN) through, and every
 * comparison against it is false: the size and depth checks would silently switch off. Bad config throws here, once.
 */
function mergeCodecLimits(limits: Partial<CodecLimits>): CodecLimits {
  const merged: CodecLimits = {
    maxMessageBytes: limits.maxMessageBytes ?? defaultCodecLimits.maxMessageBytes,
    maxDepth: limits.maxDepth ?? defaultCodecLimits.maxDepth,
  };
  for (const [name, value] of Object.entries(merged)) {
    if (!Number.isSafeInteger(value) || value < 1)
      throw new RangeError(`codec limit ${name} must be a positive integer`);
  }
  return merged;
}
