import { ErrorCode, P3Error } from '../errors.js';
import { asInt, asString, invalid } from '../field-checks.js';
import { parseJson } from '../json-value.js';
import {
  messageLimits as L,
  type EntityUpdate,
  type Frame,
  type GameEvent,
  type ServerMessage,
  type WelcomeMessage,
} from '../messages.js';
import { validateSchema } from '../schema.js';
import { malformed, truncated, type ByteReader } from './byte-reader.js';
import type { ByteWriter } from './byte-writer.js';
import { EntityDirectory } from './entity-directory.js';
import { Scope, readEntityUpdate, readRemoved, writeEntityUpdate, writeRemoved } from './entity-updates.js';
import { SchemaTables } from './schema-tables.js';
import {
  FramePrevFlag,
  JsonDepthOffset,
  ServerTag,
  frameTypeCodes,
  maxEntities,
  type WireContext,
} from './wire-format.js';

const errorCodes = new Set<string>(Object.values(ErrorCode));

/** Bytes of the smallest item of each list (bounds counts by the bytes remaining). */
const minEntityBytes = 2;
const minRemovedBytes = 1;
const minEventBytes = 6;
const minDirectoryEntryBytes = 19;

// ---------------------------------------------------------------------------------------------------------------
// Encoding (server side)

/** Writes a server message; directory changes are recorded, the codec commits or rolls them back. */
export function writeServerMessage(w: ByteWriter, ctx: WireContext, message: ServerMessage): void {
  switch (message.type) {
    case 'welcome':
      return writeWelcome(w, ctx, message);
    case 'frame':
      return writeFrame(w, ctx, message.frame, message.prev);
    case 'idle':
      if (!(message.prev < message.through))
        throw new P3Error(ErrorCode.InvalidMessage, 'an idle stretch must have prev < through');
      w.u8(ServerTag.Idle);
      w.varint(message.prev, 'prev');
      w.varint(message.through - message.prev, 'idle frames');
      return;
    case 'catchup':
      w.u8(ServerTag.Catchup);
      w.u8(message.full ? 1 : 0);
      w.varint(message.from, 'from');
      w.varint(message.to, 'to');
      writeEntities(w, ctx, message.entities, Scope.Catchup);
      writeRemovedList(w, ctx, message.removed, Scope.Catchup);
      return;
    case 'ack': {
      w.u8(ServerTag.Ack);
      w.varint(message.stamp, 'stamp');
      w.varint(message.seq, 'seq');
      const missing = message.missing;
      w.varint(missing === undefined ? 0 : missing.length + 1, 'missing count');
      if (missing !== undefined) {
        for (const [from, to] of missing) {
          w.varint(from, 'missing from');
          w.varint(to, 'missing to');
        }
      }
      return;
    }
    case 'reject':
      w.u8(ServerTag.Reject);
      w.varint(message.stamp, 'stamp');
      w.varint(message.seq, 'seq');
      w.string(message.code, 'code');
      w.string(message.reason, 'reason');
      return;
    case 'pong':
      w.u8(ServerTag.Pong);
      w.varint(message.id, 'id');
      w.f64(message.clientTime);
      w.f64(message.serverTime);
      w.varint(message.frame, 'frame');
      return;
    case 'error':
      w.u8(ServerTag.Error);
      w.string(message.code, 'code');
      w.string(message.reason, 'reason');
      return;
    default:
      throw new P3Error(ErrorCode.UnknownMessageType, 'unknown server message type');
  }
}

function writeWelcome(w: ByteWriter, ctx: WireContext, m: WelcomeMessage): void {
  const schemaJson = JSON.stringify(m.schema);
  if (schemaJson !== ctx.tables.json) {
    // Field bits and type indexes come from the codec's schema: a client reading them with another would misread.
    throw new P3Error(
      ErrorCode.InvalidSchema,
      "welcome schema differs from the codec's wire schema (toWireSchema)",
    );
  }
  w.u8(ServerTag.Welcome);
  w.varint(m.protocolVersion, 'protocolVersion');
  w.string(m.connectionId, 'connectionId');
  w.string(m.room, 'room');
  w.string(schemaJson, 'schema');
  w.varint(m.tickRate, 'tickRate');
  w.varint(m.bufferFrame, 'bufferFrame');
  w.varint(m.frame, 'frame');
  w.f64(m.serverTime);
  w.varint(m.lastSeq, 'lastSeq');
  w.u8(m.delta ? 1 : 0);
  // The full directory: the client replaces its own with it, then the lists below use REF as usual.
  const directory = ctx.directory;
  const entries = directory.entries();
  w.varint(directory.retainFrames, 'retainFrames');
  w.varint(entries.length);
  let previous = 0;
  for (const entry of entries) {
    w.varint(entry.n - previous);
    w.uuid(entry.uuid);
    w.varint(entry.typeIndex);
    w.varint(entry.removedAt === undefined ? 0 : entry.removedAt + 1);
    previous = entry.n;
  }
  writeEntities(w, ctx, m.entities, Scope.Welcome);
  writeRemovedList(w, ctx, m.removed, Scope.Welcome);
}

function writeFrame(w: ByteWriter, ctx: WireContext, frame: Frame, prev: number | undefined): void {
  const typeCode = frameTypeCodes.indexOf(frame.type as (typeof frameTypeCodes)[number]);
  if (typeCode < 0) {
    throw new P3Error(ErrorCode.InvalidMessage, `frames of type "${frame.type}" are not sent`);
  }
  if (prev !== undefined && !(prev < frame.id))
    throw new P3Error(ErrorCode.InvalidMessage, 'a frame must follow a lower prev');
  w.u8(ServerTag.Frame);
  w.u8(prev === undefined ? typeCode : typeCode | FramePrevFlag);
  w.varint(frame.id, 'frame.id');
  if (prev !== undefined) w.varint(frame.id - 1 - prev, 'frames skipped');
  w.f64(frame.time);
  w.varint(frame.events.length);
  for (const event of frame.events) {
    w.string(event.id, 'event.id');
    w.string(event.name, 'event.name');
    w.string(event.type, 'event.type');
    w.varint(event.originalFrame, 'event.originalFrame');
    w.string(JSON.stringify(event.data), 'event.data');
  }
  writeEntities(w, ctx, frame.entities, Scope.Frame);
  writeRemovedList(w, ctx, frame.removed, Scope.Frame);
}

function writeEntities(
  w: ByteWriter,
  ctx: WireContext,
  entities: readonly EntityUpdate[],
  scope: Scope,
): void {
  w.varint(entities.length);
  for (let i = 0; i < entities.length; i++) writeEntityUpdate(w, ctx, entities[i] as EntityUpdate, scope);
}

function writeRemovedList(w: ByteWriter, ctx: WireContext, removed: readonly string[], scope: Scope): void {
  w.varint(removed.length);
  for (let i = 0; i < removed.length; i++) writeRemoved(w, ctx, removed[i] as string, scope);
}

// ---------------------------------------------------------------------------------------------------------------
// Decoding (client side)

/** A decoded welcome also brings the schema and directory the codec adopts once the whole message is read. */
export interface DecodedServerMessage {
  readonly message: ServerMessage;
  readonly adopt?: { readonly tables: SchemaTables; readonly directory: EntityDirectory };
  /** Removed ids whose directory entries the server retired (written as REF or DEFINE). */
  readonly retired: readonly string[];
}

/** Reads a server message. Throws P3Errors (the codec guards); directory changes are recorded for rollback. */
export function readServerMessage(r: ByteReader, ctx: WireContext): DecodedServerMessage {
  const tag = r.u8('message tag');
  const retired: string[] = [];
  const done = (message: ServerMessage): DecodedServerMessage => {
    r.expectEnd();
    return { message, retired };
  };
  switch (tag) {
    case ServerTag.Welcome:
      return readWelcome(r, ctx, retired);
    case ServerTag.Frame: {
      const { frame, prev } = readFrame(r, ctx, retired);
      return done(prev === undefined ? { type: 'frame', frame } : { type: 'frame', frame, prev });
    }
    case ServerTag.Idle: {
      const prev = readInt(r, 'prev', 0, L.maxFrame - 1);
      const through = prev + readInt(r, 'idle frames', 1, L.maxFrame - prev);
      return done({ type: 'idle', prev, through });
    }
    case ServerTag.Catchup: {
      const full = r.bool('full');
      const from = readInt(r, 'from', 0, L.maxFrame);
      const to = readInt(r, 'to', 0, L.maxFrame);
      const entities = readEntities(r, ctx, ctx.maxDepth - JsonDepthOffset.snapshotField);
      const removed = readRemovedList(r, ctx, retired);
      return done({ type: 'catchup', from, to, full, entities, removed });
    }
    case ServerTag.Ack: {
      const stamp = readInt(r, 'stamp', 0, 0xffffffff);
      const seq = readInt(r, 'seq', 0, L.maxSeq);
      const missingCount = r.varint('missing count');
      if (missingCount === 0) return done({ type: 'ack', stamp, seq });
      if (missingCount - 1 > L.maxMissingRanges) {
        invalid(`missing has more than ${L.maxMissingRanges} items`, 'missing');
      }
      if ((missingCount - 1) * 2 > r.remaining) truncated('missing');
      const missing: (readonly [number, number])[] = [];
      for (let i = 1; i < missingCount; i++) {
        missing.push([readInt(r, 'from', 1, L.maxSeq), readInt(r, 'to', 1, L.maxSeq)]);
      }
      return done({ type: 'ack', stamp, seq, missing });
    }
    case ServerTag.Reject: {
      const stamp = readInt(r, 'stamp', 0, 0xffffffff);
      const seq = readInt(r, 'seq', 0, L.maxSeq);
      const code = readCode(r);
      return done({
        type: 'reject',
        stamp,
        seq,
        code,
        reason: asString(r.string('reason'), 'reason', 1024, 0),
      });
    }
    case ServerTag.Pong: {
      const id = readInt(r, 'id', 0, 0xffffffff);
      const clientTime = r.f64('clientTime');
      const serverTime = r.f64('serverTime');
      return done({ type: 'pong', id, clientTime, serverTime, frame: readInt(r, 'frame', 0, L.maxFrame) });
    }
    case ServerTag.Error: {
      const code = readCode(r);
      return done({ type: 'error', code, reason: asString(r.string('reason'), 'reason', 1024, 0) });
    }
    default:
      throw new P3Error(ErrorCode.UnknownMessageType, `unknown server message tag ${tag}`);
  }
}

function readWelcome(r: ByteReader, ctx: WireContext, retired: string[]): DecodedServerMessage {
  const protocolVersion = readInt(r, 'protocolVersion', 0, 0xffff);
  const connectionId = asString(r.string('connectionId'), 'connectionId', L.maxIdLength);
  const room = asString(r.string('room'), 'room', L.maxRoomLength);
  const schemaText = r.string('schema');
  const parsed = parseJson(schemaText, {
    maxLength: schemaText.length,
    maxDepth: Math.max(0, ctx.maxDepth - JsonDepthOffset.schema),
    maxKeys: 4096,
  });
  if (!parsed.ok) throw parsed.error;
  const schema = validateSchema(parsed.value);
  if (!schema.ok) throw schema.error;
  // The rest of the welcome is read with the schema it carries.
  const tables = new SchemaTables(schema.value);
  const tickRate = readInt(r, 'tickRate', 1, 1000);
  const bufferFrame = readInt(r, 'bufferFrame', 0, 100_000);
  const frame = readInt(r, 'frame', 0, L.maxFrame);
  const serverTime = r.f64('serverTime');
  const lastSeq = readInt(r, 'lastSeq', 0, L.maxSeq);
  const delta = r.bool('delta');

  const directory = new EntityDirectory(r.varint('retainFrames'));
  const count = r.count('directory', maxEntities, minDirectoryEntryBytes);
  let n = 0;
  for (let i = 0; i < count; i++) {
    const step = r.varint('directory number');
    if (step === 0) malformed('directory numbers must increase', 'directory');
    n += step;
    if (n > Number.MAX_SAFE_INTEGER / 4) malformed('directory number too large', 'directory');
    const uuid = r.uuid('directory id');
    const typeIndex = r.varint('type index');
    tables.typeAt(typeIndex);
    const removed = r.varint('removed at');
    directory.load(n, uuid, typeIndex, removed === 0 ? undefined : removed - 1);
  }
  directory.loaded(frame);

  const next: WireContext = { tables, directory, fieldSets: ctx.fieldSets, maxDepth: ctx.maxDepth };
  const entities = readEntities(r, next, ctx.maxDepth - JsonDepthOffset.snapshotField);
  const removed = readRemovedList(r, next, retired);
  r.expectEnd();
  const message: WelcomeMessage = {
    type: 'welcome',
    protocolVersion,
    connectionId,
    room,
    schema: schema.value,
    tickRate,
    bufferFrame,
    frame,
    serverTime,
    lastSeq,
    delta,
    entities,
    removed,
  };
  return { message, adopt: { tables, directory }, retired };
}

function readFrame(
  r: ByteReader,
  ctx: WireContext,
  retired: string[],
): { frame: Frame; prev: number | undefined } {
  const flags = r.flags('frame flags', 3 | FramePrevFlag);
  const type = frameTypeCodes[flags & 3];
  if (type === undefined) malformed('unknown frame type', 'frame.type');
  const id = readInt(r, 'frame.id', 0, L.maxFrame);
  const prev = (flags & FramePrevFlag) === 0 ? undefined : id - 1 - readInt(r, 'frames skipped', 0, id - 1);
  const time = r.f64('frame.time');
  const eventCount = r.count('events', maxEntities, minEventBytes);
  const events: GameEvent[] = [];
  const eventDepth = ctx.maxDepth - JsonDepthOffset.frameEvent;
  for (let i = 0; i < eventCount; i++) {
    events.push({
      id: asString(r.string('event.id'), 'event.id', 256),
      name: asString(r.string('event.name'), 'event.name', L.maxEventNameLength),
      type: asString(r.string('event.type'), 'event.type', L.maxEventNameLength),
      originalFrame: readInt(r, 'event.originalFrame', 0, L.maxFrame),
      data: r.json('event.data', eventDepth),
    });
  }
  const entities = readEntities(r, ctx, ctx.maxDepth - JsonDepthOffset.frameField);
  const removed = readRemovedList(r, ctx, retired);
  return { frame: { id, type, time, events, entities, removed }, prev };
}

function readEntities(r: ByteReader, ctx: WireContext, jsonDepth: number): EntityUpdate[] {
  const count = r.count('entities', maxEntities, minEntityBytes);
  const entities: EntityUpdate[] = new Array<EntityUpdate>(count);
  for (let i = 0; i < count; i++) entities[i] = readEntityUpdate(r, ctx, jsonDepth);
  return entities;
}

function readRemovedList(r: ByteReader, ctx: WireContext, retired: string[]): string[] {
  const count = r.count('removed', maxEntities, minRemovedBytes);
  const removed: string[] = new Array<string>(count);
  for (let i = 0; i < count; i++) removed[i] = readRemoved(r, ctx, retired);
  return removed;
}

function readInt(r: ByteReader, what: string, min: number, max: number): number {
  return asInt(r.varint(what), what, min, max);
}

function readCode(r: ByteReader): ErrorCode {
  const code = r.string('code');
  if (!errorCodes.has(code)) invalid('unknown error code', 'code');
  return code as ErrorCode;
}
