import { ErrorCode, P3Error, type Result } from './errors.js';
import {
  asArray,
  asBoolean,
  asInt,
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
  messageLimits as L,
  type ClientMessage,
  type EntityFields,
  type InputState,
  type Op,
} from './messages.js';
import { isValidName } from './schema.js';

const roomPattern = /^[A-Za-z0-9_.:-]+$/;

/** Narrows a parsed JSON value (or the binary reader's output) into a ClientMessage; every failure is a typed error. */
export function validateClientMessage(value: unknown): Result<ClientMessage> {
  return guard(() => readClientMessage(value));
}

function readClientMessage(value: unknown): ClientMessage {
  const m = asObject(value, 'message');
  switch (m.type) {
    case 'join': {
      const room = asString(m.room, 'room', L.maxRoomLength);
      if (!roomPattern.test(room)) invalid('room may hold letters, digits and _ . : - only', 'room');
      const token = optional(m.token, (v) => asString(v, 'token', L.maxTokenLength));
      const resumeFrame = optional(m.resumeFrame, (v) => asInt(v, 'resumeFrame', 0, L.maxFrame));
      return {
        type: 'join',
        protocolVersion: asInt(m.protocolVersion, 'protocolVersion', 0, 0xffff),
        room,
        clientId: asString(m.clientId, 'clientId', L.maxIdLength),
        sessionStamp: asInt(m.sessionStamp, 'sessionStamp', 0, 0xffffffff),
        ...(token === undefined ? {} : { token }),
        ...(resumeFrame === undefined ? {} : { resumeFrame }),
      };
    }
    case 'ops': {
      const through = optional(m.through, (v) => asInt(v, 'through', 0, L.maxFrame));
      const ops = asArray(m.ops, 'ops', L.maxOpsPerMessage).map(readOp);
      if (ops.length === 0) invalid('ops must not be empty', 'ops');
      return {
        type: 'ops',
        stamp: asInt(m.stamp, 'stamp', 0, 0xffffffff),
        seq: asInt(m.seq, 'seq', 1, L.maxSeq),
        ...(through === undefined ? {} : { through }),
        ops,
      };
    }
    case 'cover':
      return { type: 'cover', through: asInt(m.through, 'through', 0, L.maxFrame) };
    case 'frameAck':
      return { type: 'frameAck', frame: asInt(m.frame, 'frame', 0, L.maxFrame) };
    case 'ping':
      return {
        type: 'ping',
        id: asInt(m.id, 'id', 0, 0xffffffff),
        clientTime: asNonNegative(m.clientTime, 'clientTime'),
      };
    case 'resync':
      return { type: 'resync', frame: asInt(m.frame, 'frame', 0, L.maxFrame) };
    case 'leave':
      return { type: 'leave' };
    default:
      throw new P3Error(
        ErrorCode.UnknownMessageType,
        typeof m.type === 'string' ? `unknown message type "${m.type.slice(0, 32)}"` : 'message type missing',
      );
  }
}

function asNonNegative(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
    invalid(`${what} must be a number >= 0`, what);
  return value;
}

function readOp(value: unknown, index: number): Op {
  const o = asObject(value, `ops[${index}]`);
  const frame = optional(o.frame, (v) => asInt(v, `ops[${index}].frame`, 0, L.maxFrame));
  const at = frame === undefined ? {} : { frame };
  switch (o.op) {
    case 'input':
      return { op: 'input', ...at, entityId: asUuid(o.entityId, 'entityId'), input: readInput(o.input) };
    case 'create':
      return {
        op: 'create',
        ...at,
        entityId: asUuid(o.entityId, 'entityId'),
        typeName: readName(o.typeName, 'typeName'),
        data: readData(o.data),
      };
    case 'update':
      return { op: 'update', ...at, entityId: asUuid(o.entityId, 'entityId'), data: readData(o.data) };
    case 'delete':
      return { op: 'delete', ...at, entityId: asUuid(o.entityId, 'entityId') };
    case 'event':
      return {
        op: 'event',
        ...at,
        name: asString(o.name, 'name', L.maxEventNameLength),
        eventType: asString(o.eventType, 'eventType', L.maxEventNameLength),
        data: o.data === undefined ? null : o.data,
      };
    default:
      invalid(`ops[${index}].op must be input, create, update, delete or event`, 'op');
  }
}

function readName(value: unknown, what: string): string {
  const name = asString(value, what, 64);
  if (!isValidName(name)) invalid(`${what} is not a valid name`, what);
  return name;
}

/** Checks input state (names, boolean values); exported for the binary codec's checked path. */
export function readInput(value: unknown): InputState {
  return asRecord(value, 'input', L.maxInputKeys, (v, key) => {
    if (!isValidName(key)) invalid(`input name "${key.slice(0, 32)}" is not a valid name`, 'input');
    return asBoolean(v, `input.${key}`);
  });
}

/** Field values stay JsonValue here: their types are checked against the schema by the engine. */
function readData(value: unknown): EntityFields {
  return asRecord(value, 'data', L.maxDataKeys, (v, key) => {
    if (!isValidName(key)) invalid(`field name "${key.slice(0, 32)}" is not a valid name`, 'data');
    return v as JsonValue;
  });
}
