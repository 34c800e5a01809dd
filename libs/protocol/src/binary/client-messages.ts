import { ErrorCode, P3Error } from '../errors.js';
import { asInt, invalid } from '../field-checks.js';
import { messageLimits as L, type ClientMessage, type Op, type OpsMessage } from '../messages.js';
import { readInput } from '../validate-client-message.js';
import type { ByteReader } from './byte-reader.js';
import type { ByteWriter } from './byte-writer.js';
import { readInputState, writeInputState } from './input-state.js';
import type { KnownTypes } from './known-types.js';
import { readUntypedFields, writeUntypedFields } from './untyped-fields.js';
import { ClientTag, JsonDepthOffset, OpFlag, OpKind, type WireContext } from './wire-format.js';

/** An op takes at least 2 bytes (header and one more). */
const minOpBytes = 2;

// ---------------------------------------------------------------------------------------------------------------
// Encoding (client side)

/** Writes a client message. Creations and deletions are noted in `known` (the codec commits them on success). */
export function writeClientMessage(
  w: ByteWriter,
  ctx: WireContext,
  known: KnownTypes,
  message: ClientMessage,
): void {
  switch (message.type) {
    case 'join': {
      w.u8(ClientTag.Join);
      w.u8((message.token === undefined ? 0 : 1) | (message.resumeFrame === undefined ? 0 : 2));
      w.varint(message.protocolVersion, 'protocolVersion');
      w.string(message.room, 'room');
      w.string(message.clientId, 'clientId');
      w.varint(message.sessionStamp, 'sessionStamp');
      if (message.token !== undefined) w.string(message.token, 'token');
      if (message.resumeFrame !== undefined) w.varint(message.resumeFrame, 'resumeFrame');
      return;
    }
    case 'ops':
      return writeOps(w, ctx, known, message);
    case 'cover':
      w.u8(ClientTag.Cover);
      w.varint(message.through, 'through');
      return;
    case 'frameAck':
      w.u8(ClientTag.FrameAck);
      w.varint(message.frame, 'frame');
      return;
    case 'ping':
      w.u8(ClientTag.Ping);
      w.varint(message.id, 'id');
      w.f64(message.clientTime);
      return;
    case 'resync':
      w.u8(ClientTag.Resync);
      w.varint(message.frame, 'frame');
      return;
    case 'leave':
      w.u8(ClientTag.Leave);
      return;
    default:
      throw new P3Error(ErrorCode.UnknownMessageType, 'unknown client message type');
  }
}

function writeOps(w: ByteWriter, ctx: WireContext, known: KnownTypes, m: OpsMessage): void {
  w.u8(ClientTag.Ops);
  w.u8(m.through === undefined ? 0 : 1);
  w.varint(m.stamp, 'stamp');
  w.varint(m.seq, 'seq');
  if (m.through !== undefined) w.varint(m.through, 'through');
  w.varint(m.ops.length, 'op count');
  for (const op of m.ops) writeOp(w, ctx, known, op);
}

function writeOp(w: ByteWriter, ctx: WireContext, known: KnownTypes, op: Op): void {
  const at = op.frame === undefined ? 0 : OpFlag.Frame;
  switch (op.op) {
    case 'input':
      w.u8(OpKind.Input | at);
      writeFrame(w, op.frame);
      w.uuid(op.entityId);
      writeInputState(w, op.input);
      return;
    case 'create': {
      const type = ctx.tables.findType(op.typeName);
      w.u8(OpKind.Create | at | (type === undefined ? OpFlag.Untyped : 0));
      writeFrame(w, op.frame);
      w.uuid(op.entityId);
      if (type === undefined) {
        // A type the client's schema lacks: the server refuses it with the same error as under the JSON codec.
        w.string(op.typeName, 'typeName');
        writeUntypedFields(w, op.data);
      } else {
        w.varint(type.index);
        ctx.fieldSets.write(w, type, op.data);
      }
      known.noteCreate(op.entityId, op.typeName);
      return;
    }
    case 'update': {
      const type = known.typeOf(ctx, op.entityId);
      w.u8(OpKind.Update | at | (type === undefined ? OpFlag.Untyped : 0));
      writeFrame(w, op.frame);
      w.uuid(op.entityId);
      if (type === undefined) {
        writeUntypedFields(w, op.data);
      } else {
        w.varint(type.index);
        ctx.fieldSets.write(w, type, op.data);
      }
      return;
    }
    case 'delete':
      w.u8(OpKind.Delete | at);
      writeFrame(w, op.frame);
      w.uuid(op.entityId);
      known.noteDelete(op.entityId);
      return;
    case 'event':
      w.u8(OpKind.Event | at);
      writeFrame(w, op.frame);
      w.string(op.name, 'name');
      w.string(op.eventType, 'eventType');
      w.string(JSON.stringify(op.data ?? null), 'data');
      return;
    default:
      throw new P3Error(ErrorCode.InvalidMessage, 'unknown op');
  }
}

function writeFrame(w: ByteWriter, frame: number | undefined): void {
  if (frame !== undefined) w.varint(frame, 'frame');
}

// ---------------------------------------------------------------------------------------------------------------
// Decoding (server side)

/** A message as read, before validation: typed ops are already Op values, the rest plain data. */
type ReadMessage = Record<string, unknown>;

/**
 * Reads the structure of a client message into a JSON-shaped object; the codec then runs it through
 * `validateClientMessage`, so the binary and JSON codecs enforce the same rules (lengths, ranges, names).
 */
export function readClientMessage(r: ByteReader, ctx: WireContext): ReadMessage {
  const tag = r.u8('message tag');
  let message: ReadMessage;
  switch (tag) {
    case ClientTag.Join: {
      const flags = r.flags('join flags', 3);
      message = {
        type: 'join',
        protocolVersion: r.varint('protocolVersion'),
        room: r.string('room'),
        clientId: r.string('clientId'),
        sessionStamp: r.varint('sessionStamp'),
      };
      if ((flags & 1) !== 0) message.token = r.string('token');
      if ((flags & 2) !== 0) message.resumeFrame = r.varint('resumeFrame');
      break;
    }
    case ClientTag.Ops:
      message = readOps(r, ctx);
      break;
    case ClientTag.Cover:
      message = { type: 'cover', through: r.varint('through') };
      break;
    case ClientTag.FrameAck:
      message = { type: 'frameAck', frame: r.varint('frame') };
      break;
    case ClientTag.Ping:
      message = { type: 'ping', id: r.varint('id'), clientTime: r.f64('clientTime') };
      break;
    case ClientTag.Resync:
      message = { type: 'resync', frame: r.varint('frame') };
      break;
    case ClientTag.Leave:
      message = { type: 'leave' };
      break;
    default:
      throw new P3Error(ErrorCode.UnknownMessageType, `unknown client message tag ${tag}`);
  }
  r.expectEnd();
  return message;
}

/**
 * The hot path of a server: an `ops` message whose ops are all typed (create and update by type index, delete,
 * input) read straight into a checked OpsMessage, with the checks `validateClientMessage` would run on what the
 * layout does not already guarantee (integer ranges, input names; ids are 16 bytes, type and field names come
 * from the schema). Returns undefined when the message holds untyped fields or an event: the caller then takes
 * the generic path (`readClientMessage`, then validation). Errors carry the same codes and reasons as that path.
 */
export function readCheckedOps(r: ByteReader, ctx: WireContext): OpsMessage | undefined {
  r.u8('message tag');
  const flags = r.flags('ops flags', 1);
  const stamp = r.varint('stamp');
  const seq = r.varint('seq');
  const through = (flags & 1) !== 0 ? r.varint('through') : undefined;
  const count = r.count('ops', L.maxOpsPerMessage, minOpBytes);
  // Sized up front: a push onto [] reserves room for 17 elements, and most messages hold one op.
  const ops = new Array<Op>(count);
  for (let i = 0; i < count; i++) {
    const header = r.u8('op');
    if ((header & OpFlag.Untyped) !== 0 || (header & 7) === OpKind.Event) return undefined;
    ops[i] = readTypedOp(r, ctx, header);
  }
  r.expectEnd();
  // Checked once the whole message is read, in validateClientMessage's order, so any fault gets the same error.
  if (through !== undefined) asInt(through, 'through', 0, L.maxFrame);
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i] as Op;
    if (op.frame !== undefined) asInt(op.frame, `ops[${i}].frame`, 0, L.maxFrame);
    // Input names are free text on the wire: the generic check applies to them.
    if (op.op === 'input') ops[i] = { ...op, input: readInput(op.input) };
  }
  if (ops.length === 0) invalid('ops must not be empty', 'ops');
  asInt(stamp, 'stamp', 0, 0xffffffff);
  asInt(seq, 'seq', 1, L.maxSeq);
  return through === undefined ? { type: 'ops', stamp, seq, ops } : { type: 'ops', stamp, seq, through, ops };
}

/**
 * The op after `header`, which has neither the untyped flag nor the event kind: input, typed create or update,
 * delete. Its frame is not range-checked yet (the caller validates). Both readers of ops use it.
 */
function readTypedOp(r: ByteReader, ctx: WireContext, header: number): Op {
  const kind = header & 7;
  if ((header & ~(7 | OpFlag.Frame)) !== 0) invalid('op header has unknown bits', 'op');
  const frame = (header & OpFlag.Frame) !== 0 ? r.varint('frame') : undefined;
  const fieldDepth = ctx.maxDepth - JsonDepthOffset.opField;
  switch (kind) {
    case OpKind.Input: {
      const entityId = r.uuid('entityId');
      const input = readInputState(r);
      return frame === undefined ? { op: 'input', entityId, input } : { op: 'input', frame, entityId, input };
    }
    case OpKind.Create: {
      const entityId = r.uuid('entityId');
      const type = ctx.tables.typeAt(r.varint('type index'));
      const data = ctx.fieldSets.read(r, type, fieldDepth);
      return frame === undefined
        ? { op: 'create', entityId, typeName: type.name, data }
        : { op: 'create', frame, entityId, typeName: type.name, data };
    }
    case OpKind.Update: {
      const entityId = r.uuid('entityId');
      const data = ctx.fieldSets.read(r, ctx.tables.typeAt(r.varint('type index')), fieldDepth);
      return frame === undefined ? { op: 'update', entityId, data } : { op: 'update', frame, entityId, data };
    }
    case OpKind.Delete: {
      const entityId = r.uuid('entityId');
      return frame === undefined ? { op: 'delete', entityId } : { op: 'delete', frame, entityId };
    }
    default:
      return invalid('op must be input, create, update, delete or event', 'op');
  }
}

function readOps(r: ByteReader, ctx: WireContext): ReadMessage {
  const flags = r.flags('ops flags', 1);
  const stamp = r.varint('stamp');
  const seq = r.varint('seq');
  const message: ReadMessage = { type: 'ops', stamp, seq };
  if ((flags & 1) !== 0) message.through = r.varint('through');
  const count = r.count('ops', L.maxOpsPerMessage, minOpBytes);
  const ops: unknown[] = [];
  for (let i = 0; i < count; i++) ops.push(readOp(r, ctx));
  message.ops = ops;
  return message;
}

function readOp(r: ByteReader, ctx: WireContext): Op | ReadMessage {
  const header = r.u8('op');
  const kind = header & 7;
  const untyped = (header & OpFlag.Untyped) !== 0;
  if (!untyped && kind !== OpKind.Event) return readTypedOp(r, ctx, header);
  // Left: untyped creations and updates, and events.
  const typedKind = kind === OpKind.Create || kind === OpKind.Update;
  if ((header & ~(7 | OpFlag.Frame | (typedKind ? OpFlag.Untyped : 0))) !== 0)
    invalid('op header has unknown bits', 'op');
  const op: ReadMessage = {};
  if ((header & OpFlag.Frame) !== 0) op.frame = r.varint('frame');
  const fieldDepth = ctx.maxDepth - JsonDepthOffset.opField;
  switch (kind) {
    case OpKind.Create:
      op.op = 'create';
      op.entityId = r.uuid('entityId');
      op.typeName = r.string('typeName');
      op.data = readUntypedFields(r, fieldDepth);
      return op;
    case OpKind.Update:
      op.op = 'update';
      op.entityId = r.uuid('entityId');
      op.data = readUntypedFields(r, fieldDepth);
      return op;
    default:
      op.op = 'event';
      op.name = r.string('name');
      op.eventType = r.string('eventType');
      op.data = r.json('data', ctx.maxDepth - JsonDepthOffset.opEvent);
      return op;
  }
}
