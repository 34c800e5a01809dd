import type { CodecLimits } from './codec.js';
import { ErrorCode, P3Error, type Result } from './errors.js';
import { asArray, asInt, asObject, asRecord, asString, guard, invalid } from './field-checks.js';
import { isJsonValue, type JsonValue } from './json-value.js';
import { decodeJsonWire } from './json-codec.js';

/**
 * Seed 003: the ecs-sync JSON protocol, byte-compatible with the existing client.
 * Component data is a flat object of fields plus `_exists` (false: deleted; absent on a new key: created).
 */
export type ComponentData = { [field: string]: JsonValue };

/** Key (`<entityId>/<component>` or `SINGLETON/<name>`) -> component data to merge. */
export type Patch = Record<string, ComponentData>;

export interface PatchRequest {
  readonly type: 'patch';
  readonly messageId: string;
  readonly documentPatches?: Patch[];
  readonly ephemeralPatches?: Patch[];
}

export interface ReconnectRequest {
  readonly type: 'reconnect';
  readonly lastTimestamp: number;
  /** Sent by current clients; the seed-era client omits it. */
  readonly protocolVersion?: number;
  readonly documentPatches?: Patch[];
  readonly ephemeralPatches?: Patch[];
}

export type EcsSyncClientMessage = PatchRequest | ReconnectRequest;

export interface AckResponse {
  readonly type: 'ack';
  readonly messageId: string;
  readonly timestamp: number;
}

export interface PatchBroadcast {
  readonly type: 'patch';
  readonly documentPatches?: Patch[];
  readonly ephemeralPatches?: Patch[];
  /** Sender's client id; empty for server-originated patches (reconnect diffs, ephemeral snapshots). */
  readonly clientId: string;
  readonly timestamp: number;
}

export interface ClientCountBroadcast {
  readonly type: 'clientCount';
  readonly count: number;
}

export interface VersionMismatchResponse {
  readonly type: 'version-mismatch';
  readonly serverProtocolVersion: number;
}

/** P3 extension: a refused message. Existing clients ignore unknown types; newer ones can surface it. */
export interface EcsSyncErrorResponse {
  readonly type: 'error';
  readonly code: ErrorCode;
  readonly reason: string;
  readonly messageId?: string;
}

export type EcsSyncServerMessage =
  AckResponse | PatchBroadcast | ClientCountBroadcast | VersionMismatchResponse | EcsSyncErrorResponse;

export const ecsSyncLimits = {
  maxPatchesPerMessage: 1024,
  maxKeysPerPatch: 10_000,
  maxFieldsPerComponent: 1024,
  maxKeyLength: 512,
  maxMessageIdLength: 256,
} as const;

export const defaultEcsSyncCodecLimits: CodecLimits = { maxMessageBytes: 1 << 20, maxDepth: 32 };

/** Decodes one client message from the wire; every failure is a typed error, never a throw. */
export function decodeEcsSyncClientMessage(
  data: string | Uint8Array,
  limits: CodecLimits = defaultEcsSyncCodecLimits,
): Result<EcsSyncClientMessage> {
  // A patch may hold up to maxKeysPerPatch keys: the JSON layer must not refuse it earlier at its own default.
  const parsed = decodeJsonWire(data, limits, ecsSyncLimits.maxKeysPerPatch);
  if (!parsed.ok) return parsed;
  return guard(() => readClientMessage(parsed.value));
}

function readClientMessage(value: JsonValue): EcsSyncClientMessage {
  const m = asObject(value, 'message');
  // Read lazily, inside a known type: an unknown type is UNKNOWN_MESSAGE_TYPE whatever its other fields hold.
  const patches = () => ({
    ...readPatches(m.documentPatches, 'documentPatches'),
    ...readPatches(m.ephemeralPatches, 'ephemeralPatches'),
  });
  switch (m.type) {
    case 'patch':
      return {
        type: 'patch',
        messageId: asString(m.messageId, 'messageId', ecsSyncLimits.maxMessageIdLength),
        ...patches(),
      };
    case 'reconnect': {
      if (typeof m.lastTimestamp !== 'number' || !Number.isFinite(m.lastTimestamp) || m.lastTimestamp < 0) {
        invalid('lastTimestamp must be a number >= 0', 'lastTimestamp');
      }
      return {
        type: 'reconnect',
        lastTimestamp: Math.floor(m.lastTimestamp),
        ...(m.protocolVersion === undefined
          ? {}
          : { protocolVersion: asInt(m.protocolVersion, 'protocolVersion', 0, 0xffff) }),
        ...patches(),
      };
    }
    default:
      throw new P3Error(
        ErrorCode.UnknownMessageType,
        typeof m.type === 'string' ? `unknown message type "${m.type.slice(0, 32)}"` : 'message type missing',
      );
  }
}

function readPatches(
  value: unknown,
  what: 'documentPatches' | 'ephemeralPatches',
): { [K in typeof what]?: Patch[] } {
  if (value === undefined || value === null) return {};
  const patches = asArray(value, what, ecsSyncLimits.maxPatchesPerMessage).map((patch, i) =>
    readPatch(patch, `${what}[${i}]`),
  );
  return { [what]: patches };
}

/** A patch is an object of objects; `_exists`, when present, is a boolean. */
export function readPatch(value: unknown, what: string): Patch {
  return asRecord(value, what, ecsSyncLimits.maxKeysPerPatch, (component, key) => {
    if (key.length === 0 || key.length > ecsSyncLimits.maxKeyLength)
      invalid(`${what} has an invalid key`, what);
    const data = asRecord(
      component,
      `${what}["${key.slice(0, 64)}"]`,
      ecsSyncLimits.maxFieldsPerComponent,
      (v) => v as JsonValue,
    );
    if (data._exists !== undefined && typeof data._exists !== 'boolean')
      invalid(`_exists must be a boolean`, key);
    return data;
  });
}

/** Checks a patch (e.g. from an HTTP body) and returns it typed. */
export function validatePatch(value: unknown): Result<Patch> {
  return guard(() => {
    const patch = readPatch(value, 'patch');
    // readPatch trusts its field values because parsed JSON can hold nothing else; a value handed in from code
    // can (NaN, undefined, functions, class instances), so it is checked here.
    for (const [key, data] of Object.entries(patch)) {
      if (!isJsonValue(data)) invalid('component data must be JSON data', key);
    }
    return patch;
  });
}
