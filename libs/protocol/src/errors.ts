/**
 * Stable error codes. Every rejection a peer can receive carries one of these, plus a readable reason.
 * Codes are part of the public API: never rename one, only add.
 */
export const ErrorCode = {
  // Decoding of untrusted bytes (any decoder).
  TooLarge: 'TOO_LARGE',
  TooDeep: 'TOO_DEEP',
  Malformed: 'MALFORMED',
  Truncated: 'TRUNCATED',
  TrailingBytes: 'TRAILING_BYTES',
  PrototypeKey: 'PROTOTYPE_KEY',
  NotFinite: 'NOT_FINITE',
  VarintOverflow: 'VARINT_OVERFLOW',
  UnknownMessageType: 'UNKNOWN_MESSAGE_TYPE',
  InvalidMessage: 'INVALID_MESSAGE',
  UnknownEntityRef: 'UNKNOWN_ENTITY_REF',
  // Schema and authority (engine).
  InvalidSchema: 'INVALID_SCHEMA',
  UnknownEntityType: 'UNKNOWN_ENTITY_TYPE',
  UnknownField: 'UNKNOWN_FIELD',
  FieldType: 'FIELD_TYPE',
  OutOfRange: 'OUT_OF_RANGE',
  AccessDenied: 'ACCESS_DENIED',
  NotOwner: 'NOT_OWNER',
  SeedField: 'SEED_FIELD',
  EntityExists: 'ENTITY_EXISTS',
  EntityNotFound: 'ENTITY_NOT_FOUND',
  InvalidEntityId: 'INVALID_ENTITY_ID',
  FrameDropped: 'FRAME_DROPPED',
  FrameTooFarAhead: 'FRAME_TOO_FAR_AHEAD',
  SequenceOutOfWindow: 'SEQUENCE_OUT_OF_WINDOW',
  // Session and transport (gateway).
  ProtocolVersion: 'PROTOCOL_VERSION',
  NotJoined: 'NOT_JOINED',
  AlreadyJoined: 'ALREADY_JOINED',
  Unauthorized: 'UNAUTHORIZED',
  Forbidden: 'FORBIDDEN',
  RateLimited: 'RATE_LIMITED',
  /** More bytes per second than the connection's or the room's byte budget allows: the message was dropped. */
  ByteRateLimited: 'BYTE_RATE_LIMITED',
  /** A browser request or upgrade from an origin not in `P3_ALLOWED_ORIGINS` (HTTP 403). */
  OriginNotAllowed: 'ORIGIN_NOT_ALLOWED',
  /** A request body of another media type than the endpoint accepts (HTTP 415). */
  UnsupportedMediaType: 'UNSUPPORTED_MEDIA_TYPE',
  RoomFull: 'ROOM_FULL',
  QuotaExceeded: 'QUOTA_EXCEEDED',
  Backpressure: 'BACKPRESSURE',
  Internal: 'INTERNAL',
  /** Cluster: no simulator could take the room in time (none live, or its previous owner's lease not yet expired). */
  RoomUnavailable: 'ROOM_UNAVAILABLE',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * The one error class of P3. Branch on `code`, show `message` to humans.
 *
 * @example
 * const r = decodeJsonValue(text);
 * if (!r.ok && r.error.code === ErrorCode.TooLarge) reject(r.error);
 */
export class P3Error extends Error {
  override readonly name = 'P3Error';
  readonly code: ErrorCode;
  /** Optional structured detail safe to send to the peer (e.g. the offending field path). */
  readonly detail: string | undefined;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; detail?: string } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.detail = options.detail;
  }
}

/** Result of an operation whose failure is expected (untrusted input): never thrown, always returned. */
export type Result<T, E = P3Error> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: E };

export const ok = <T>(value: T): Result<T, never> => ({ ok: true, value });
export const err = <E = P3Error>(error: E): Result<never, E> => ({ ok: false, error });
export const fail = (code: ErrorCode, message: string, detail?: string): Result<never, P3Error> =>
  err(new P3Error(code, message, detail === undefined ? {} : { detail }));

export function isP3Error(value: unknown): value is P3Error {
  return value instanceof P3Error;
}
