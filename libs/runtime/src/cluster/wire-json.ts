import { parseJson, type JsonLimits } from '@p3/protocol';

/** Stable codes of a refused cluster message: part of the public API, never renamed, only added. */
export const ClusterWireErrorCode = {
  /** Not UTF-8 JSON, too large, too deep, or holding a prototype key (`__proto__`) or a non-finite number. */
  NotJson: 'CLUSTER_WIRE_NOT_JSON',
  /** Another layout version than this process speaks: a mixed-version cluster must not guess at bytes. */
  UnknownVersion: 'CLUSTER_WIRE_UNKNOWN_VERSION',
  /** JSON of the wrong shape (a field missing, of the wrong type, or out of range). */
  Malformed: 'CLUSTER_WIRE_MALFORMED',
} as const;
export type ClusterWireErrorCode = (typeof ClusterWireErrorCode)[keyof typeof ClusterWireErrorCode];

/** What a cluster decoder made of some bytes: never an exception, since the bytes come off the network. */
export type WireDecodeResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly code: ClusterWireErrorCode; readonly message: string };

/** The only layout so far of every cluster message (join, replies, input and output batches). */
export const CLUSTER_WIRE_VERSION = 1;

/** Cluster messages carry room state; 8 MiB bounds a hostile or corrupt one below NATS' own limit settings. */
const maxWireBytes = 8 << 20;
/** Cluster messages nest a few levels (items in a batch); anything far deeper is hostile or corrupt. */
const wireJsonLimits: JsonLimits = { maxLength: maxWireBytes, maxDepth: 64, maxKeys: 10_000_000 };
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeWire(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

/** Parses bytes to a JSON object carrying `v: CLUSTER_WIRE_VERSION`, or says why not. */
export function decodeWireObject(bytes: Uint8Array): WireDecodeResult<Record<string, unknown>> {
  if (bytes.byteLength > maxWireBytes)
    return wireFailure(ClusterWireErrorCode.NotJson, `message of ${bytes.byteLength} bytes is too large`);
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    return wireFailure(ClusterWireErrorCode.NotJson, 'not UTF-8');
  }
  // The protocol's parser: depth checked before JSON.parse (a deep value would overflow whatever walks it later),
  // prototype keys and non-finite numbers refused.
  const json = parseJson(text, wireJsonLimits);
  if (!json.ok) return wireFailure(ClusterWireErrorCode.NotJson, `${json.error.code}: ${json.error.message}`);
  const parsed = json.value;
  if (!isRecord(parsed)) return wireFailure(ClusterWireErrorCode.Malformed, 'not a JSON object');
  if (parsed.v !== CLUSTER_WIRE_VERSION)
    return wireFailure(ClusterWireErrorCode.UnknownVersion, `unknown version ${describe(parsed.v)}`);
  return { ok: true, value: parsed };
}

/** A value named in an error message, bounded (never the value's JSON: it may be huge). */
export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.slice(0, 64));
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  return Array.isArray(value) ? 'an array' : typeof value;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A non-empty string of at most `max` UTF-16 units (ids, reasons). */
export function isText(value: unknown, max = 1024): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= max;
}

export function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

export function wireFailure(
  code: ClusterWireErrorCode,
  message: string,
): { ok: false; code: ClusterWireErrorCode; message: string } {
  return { ok: false, code, message };
}

export const malformed = (message: string) => wireFailure(ClusterWireErrorCode.Malformed, message);

/** A room key and the caller's principal as the flat fields every cluster request carries. */
export function roomFields(
  key: { readonly tenant: string; readonly room: string },
  principal: { readonly user: string; readonly team: string } | undefined,
): Record<string, string> {
  return {
    tenant: key.tenant,
    room: key.room,
    ...(principal === undefined ? {} : { user: principal.user, team: principal.team }),
  };
}
