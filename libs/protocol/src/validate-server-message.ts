import { ErrorCode, P3Error, type Result } from './errors.js';
import {
  asArray,
  asBoolean,
  asInt,
  asNumber,
  asObject,
  asRecord,
  asString,
  asUuid,
  guard,
  invalid,
  optional,
} from './field-checks.js';
import type { JsonValue } from './json-value.js';
import {
  FrameType,
  messageLimits as L,
  type EntityUpdate,
  type Frame,
  type GameEvent,
  type ServerMessage,
} from './messages.js';
import { validateSchema } from './schema.js';

const maxEntities = 1_000_000;
const frameTypes = new Set<string>([FrameType.Verified, FrameType.Generated, FrameType.Corrected]);
const errorCodes = new Set<string>(Object.values(ErrorCode));

/** Narrows a parsed JSON value into a ServerMessage (the client side of the JSON codec). */
export function validateServerMessage(value: JsonValue): Result<ServerMessage> {
  return guard(() => readServerMessage(value));
}

function readServerMessage(value: JsonValue): ServerMessage {
  const m = asObject(value, 'message');
  switch (m.type) {
    case 'welcome': {
      const schema = validateSchema(m.schema);
      if (!schema.ok) throw schema.error;
      return {
        type: 'welcome',
        protocolVersion: asInt(m.protocolVersion, 'protocolVersion', 0, 0xffff),
        connectionId: asString(m.connectionId, 'connectionId', L.maxIdLength),
        room: asString(m.room, 'room', L.maxRoomLength),
        schema: schema.value,
        tickRate: asInt(m.tickRate, 'tickRate', 1, 1000),
        bufferFrame: asInt(m.bufferFrame, 'bufferFrame', 0, 100_000),
        frame: asInt(m.frame, 'frame', 0, L.maxFrame),
        serverTime: asNumber(m.serverTime, 'serverTime'),
        lastSeq: asInt(m.lastSeq, 'lastSeq', 0, L.maxSeq),
        delta: asBoolean(m.delta, 'delta'),
        entities: asArray(m.entities, 'entities', maxEntities).map(readEntityUpdate),
        removed: asArray(m.removed, 'removed', maxEntities).map((v) => asUuid(v, 'removed')),
      };
    }
    case 'frame': {
      const frame = readFrame(m.frame);
      const prev = optional(m.prev, (v) => asInt(v, 'prev', 0, L.maxFrame));
      if (prev !== undefined && prev >= frame.id) invalid('prev must be below frame.id', 'prev');
      return prev === undefined ? { type: 'frame', frame } : { type: 'frame', frame, prev };
    }
    case 'idle': {
      const prev = asInt(m.prev, 'prev', 0, L.maxFrame);
      const through = asInt(m.through, 'through', 0, L.maxFrame);
      if (prev >= through) invalid('an idle stretch must have prev < through', 'through');
      return { type: 'idle', prev, through };
    }
    case 'catchup':
      return {
        type: 'catchup',
        from: asInt(m.from, 'from', 0, L.maxFrame),
        to: asInt(m.to, 'to', 0, L.maxFrame),
        full: asBoolean(m.full, 'full'),
        entities: asArray(m.entities, 'entities', maxEntities).map(readEntityUpdate),
        removed: asArray(m.removed, 'removed', maxEntities).map((v) => asUuid(v, 'removed')),
      };
    case 'ack': {
      const missing = optional(m.missing, (v) =>
        asArray(v, 'missing', L.maxMissingRanges).map((r) => {
          const pair = asArray(r, 'missing range', 2);
          if (pair.length !== 2) invalid('missing ranges are [from, to] pairs', 'missing');
          const range = [asInt(pair[0], 'from', 1, L.maxSeq), asInt(pair[1], 'to', 1, L.maxSeq)] as const;
          if (range[0] > range[1]) invalid('a missing range must have from <= to', 'missing');
          return range;
        }),
      );
      return {
        type: 'ack',
        stamp: asInt(m.stamp, 'stamp', 0, 0xffffffff),
        seq: asInt(m.seq, 'seq', 0, L.maxSeq),
        ...(missing === undefined ? {} : { missing }),
      };
    }
    case 'reject':
      return {
        type: 'reject',
        stamp: asInt(m.stamp, 'stamp', 0, 0xffffffff),
        seq: asInt(m.seq, 'seq', 0, L.maxSeq),
        code: readCode(m.code),
        reason: asString(m.reason, 'reason', 1024, 0),
      };
    case 'pong':
      return {
        type: 'pong',
        id: asInt(m.id, 'id', 0, 0xffffffff),
        clientTime: asNumber(m.clientTime, 'clientTime'),
        serverTime: asNumber(m.serverTime, 'serverTime'),
        frame: asInt(m.frame, 'frame', 0, L.maxFrame),
      };
    case 'error':
      return { type: 'error', code: readCode(m.code), reason: asString(m.reason, 'reason', 1024, 0) };
    default:
      throw new P3Error(ErrorCode.UnknownMessageType, 'unknown server message type');
  }
}

function readCode(value: unknown): ErrorCode {
  const code = asString(value, 'code', 64);
  if (!errorCodes.has(code)) invalid(`unknown error code`, 'code');
  return code as ErrorCode;
}

export function readFrame(value: unknown): Frame {
  const f = asObject(value, 'frame');
  const type = asString(f.type, 'frame.type', 16);
  if (!frameTypes.has(type)) invalid('frame.type must be verified, generated or corrected', 'frame.type');
  return {
    id: asInt(f.id, 'frame.id', 0, L.maxFrame),
    type: type as FrameType,
    time: asNumber(f.time, 'frame.time'),
    events: asArray(f.events, 'events', maxEntities).map(readEvent),
    entities: asArray(f.entities, 'entities', maxEntities).map(readEntityUpdate),
    removed: asArray(f.removed, 'removed', maxEntities).map((v) => asUuid(v, 'removed')),
  };
}

function readEvent(value: JsonValue): GameEvent {
  const e = asObject(value, 'event');
  return {
    id: asString(e.id, 'event.id', 256),
    name: asString(e.name, 'event.name', L.maxEventNameLength),
    type: asString(e.type, 'event.type', L.maxEventNameLength),
    originalFrame: asInt(e.originalFrame, 'event.originalFrame', 0, L.maxFrame),
    data: e.data === undefined ? null : e.data,
  };
}

function readEntityUpdate(value: JsonValue): EntityUpdate {
  const u = asObject(value, 'entity');
  const created = optional(u.created, (v) => asBoolean(v, 'created'));
  const owner = u.owner === null ? null : optional(u.owner, (v) => asString(v, 'owner', L.maxIdLength));
  const fields = optional(u.fields, (v) => asRecord(v, 'fields', L.maxDataKeys, (x) => x as JsonValue));
  const input = optional(u.input, (v) =>
    asRecord(v, 'input', L.maxInputKeys, (x, k) => asBoolean(x, `input.${k}`)),
  );
  return {
    id: asUuid(u.id, 'entity.id'),
    typeName: asString(u.typeName, 'entity.typeName', 64),
    ...(created === undefined ? {} : { created }),
    ...(owner === undefined ? {} : { owner }),
    ...(fields === undefined ? {} : { fields }),
    ...(input === undefined ? {} : { input }),
  };
}
