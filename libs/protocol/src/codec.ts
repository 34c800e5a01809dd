import type { Result } from './errors.js';
import type { ClientMessage, ServerMessage } from './messages.js';

/** What travels in one WebSocket message: text for the JSON codec, bytes for the binary codec. */
export type WireData = string | Uint8Array;

/**
 * The server side of a codec. A server holds one instance per room and codec, so that a frame is encoded
 * once and the bytes are reused for every member (encode once, fan out many).
 */
export interface ServerCodec {
  readonly name: 'json' | 'binary';
  decodeClient(data: WireData): Result<ClientMessage>;
  encodeServer(message: ServerMessage): WireData;
}

/** The client side of a codec: one instance per connection (the binary codec keeps the entity directory). */
export interface ClientCodec {
  readonly name: 'json' | 'binary';
  encodeClient(message: ClientMessage): WireData;
  decodeServer(data: WireData): Result<ServerMessage>;
}

export interface CodecLimits {
  /** Largest message accepted by a decoder, in bytes (or UTF-16 units for text). */
  readonly maxMessageBytes: number;
  readonly maxDepth: number;
}

export const defaultCodecLimits: CodecLimits = { maxMessageBytes: 64 * 1024, maxDepth: 16 };
