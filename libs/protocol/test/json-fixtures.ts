/**
 * Valid messages of every JSON wire type, shared by the codec, corpus and ecs-sync tests. Each sample is the fullest
 * valid form (every optional field present), so that a test can break one field at a time.
 */
import type {
  ClientMessage,
  EcsSyncClientMessage,
  ErrorCode,
  Result,
  ServerMessage,
  WorldSchema,
} from '@p3/protocol';
import { ErrorCode as Codes, P3Error } from '@p3/protocol';
import { expect } from 'vitest';

export const entityA = '0190d7a0-0000-7000-8000-000000000001';
export const entityB = '0190d7a0-0000-7000-8000-00000000000b';
export const entityC = '0190d7a0-0000-7000-8000-0000000000c3';

export const sampleSchema = {
  Player: {
    connectionBound: true,
    fields: {
      x: {
        dataType: 'number',
        min: -100,
        max: 100,
        interpolate: true,
        accessControl: 'client',
        precision: 0.01,
      },
      name: { dataType: 'string', maxLength: 32, accessControl: 'seed', default: 'anon' },
      score: { dataType: 'integer', min: 0, default: 0 },
      alive: { dataType: 'boolean', default: true },
      meta: { dataType: 'json', default: { tags: ['a'] } },
      secret: { dataType: 'string', replicable: false },
    },
  },
  Ball: { fields: { y: { dataType: 'number' } } },
} satisfies WorldSchema;

type ByType<M extends { type: string }> = { [K in M['type']]: Extract<M, { type: K }> };

/** One valid message of every client type. `ops` holds one op of each kind, in the order input, create, update, delete, event. */
export const clientSamples = {
  join: {
    type: 'join',
    protocolVersion: 1,
    room: 'lobby-1',
    clientId: 'client-7',
    sessionStamp: 1_700_000_000,
    token: 'eyJhbGciOi.payload.sig',
    resumeFrame: 42,
  },
  ops: {
    type: 'ops',
    stamp: 1_700_000_000,
    seq: 5,
    through: 40,
    ops: [
      { op: 'input', frame: 41, entityId: entityA, input: { up: true, fire: false } },
      {
        op: 'create',
        frame: 41,
        entityId: entityB,
        typeName: 'Player',
        data: { x: 1.5, name: 'ada', meta: { a: [1, null] } },
      },
      { op: 'update', entityId: entityA, data: { x: -3 } },
      { op: 'delete', entityId: entityC },
      { op: 'event', name: 'chat', eventType: 'message', data: { text: 'hi', at: [1, 2] } },
    ],
  },
  cover: { type: 'cover', through: 41 },
  frameAck: { type: 'frameAck', frame: 41 },
  ping: { type: 'ping', id: 3, clientTime: 1234.5 },
  resync: { type: 'resync', frame: 12 },
  leave: { type: 'leave' },
} satisfies ByType<ClientMessage>;

const playerUpdate = {
  id: entityA,
  typeName: 'Player',
  created: true,
  owner: 'conn-1',
  fields: { x: 1, name: 'ada', meta: { a: [true] } },
  input: { up: true },
};

/** One valid message of every server type. */
export const serverSamples = {
  welcome: {
    type: 'welcome',
    protocolVersion: 1,
    connectionId: 'conn-1',
    room: 'lobby-1',
    schema: sampleSchema,
    tickRate: 20,
    bufferFrame: 10,
    frame: 100,
    serverTime: 5000,
    lastSeq: 4,
    delta: false,
    entities: [playerUpdate],
    removed: [entityC],
  },
  frame: {
    type: 'frame',
    frame: {
      id: 101,
      type: 'verified',
      time: 5050,
      events: [{ id: 'ev-1', name: 'goal', type: 'score', originalFrame: 100, data: { by: entityA } }],
      entities: [playerUpdate, { id: entityB, typeName: 'Ball', fields: { y: 2 } }],
      removed: [entityC],
    },
    prev: 97,
  },
  idle: { type: 'idle', prev: 101, through: 131 },
  catchup: {
    type: 'catchup',
    from: 90,
    to: 101,
    full: false,
    entities: [{ id: entityB, typeName: 'Ball', owner: null }],
    removed: [entityC],
  },
  ack: {
    type: 'ack',
    stamp: 1_700_000_000,
    seq: 10,
    missing: [
      [12, 14],
      [20, 20],
    ],
  },
  reject: { type: 'reject', stamp: 1_700_000_000, seq: 11, code: 'OUT_OF_RANGE', reason: 'x must be <= 100' },
  pong: { type: 'pong', id: 3, clientTime: 1234.5, serverTime: 5100.25, frame: 102 },
  error: { type: 'error', code: 'NOT_JOINED', reason: 'join first' },
} satisfies ByType<ServerMessage>;

/** Valid seed-003 client messages. */
export const ecsSamples = {
  patch: {
    type: 'patch',
    messageId: 'msg-1',
    documentPatches: [{ 'e1/Position': { x: 1, y: 2 }, 'e2/Shape': { _exists: false } }],
    ephemeralPatches: [{ 'SINGLETON/Cursor': { x: 5, _exists: true } }],
  },
  reconnect: {
    type: 'reconnect',
    lastTimestamp: 17,
    protocolVersion: 1,
    documentPatches: [{ 'e1/Position': { x: 3 } }],
    ephemeralPatches: [],
  },
} satisfies ByType<EcsSyncClientMessage>;

export type Path = readonly (string | number)[];

/**
 * A JSON copy of `message` with the value at `path` replaced (`undefined` removes an object key).
 * Prototype keys cannot be written this way (an assignment to `__proto__` sets the prototype): use raw text for them.
 */
export function withValue(message: object, path: Path, value: unknown): string {
  const copy = JSON.parse(JSON.stringify(message)) as unknown;
  let target = copy;
  for (const key of path.slice(0, -1)) target = (target as Record<string | number, unknown>)[key];
  const last = path[path.length - 1];
  if (last === undefined) throw new Error('empty path');
  (target as Record<string | number, unknown>)[last] = value;
  return JSON.stringify(copy);
}

/** `{ a: 1, ... }` with `count` keys `k0..k<count-1>` whose values come from `value`. */
export function manyKeys<T>(count: number, value: (i: number) => T, prefix = 'k'): Record<string, T> {
  const out: Record<string, T> = {};
  for (let i = 0; i < count; i++) out[`${prefix}${i}`] = value(i);
  return out;
}

const knownCodes = new Set<string>(Object.values(Codes));

/** Asserts a failed Result carrying a P3Error with `code` (and `detail`, when given). */
export function expectFailure(result: Result<unknown>, code: ErrorCode, detail?: string): void {
  expect(result.ok, `expected ${code}, got a success`).toBe(false);
  if (result.ok) return;
  expect(result.error).toBeInstanceOf(P3Error);
  expect(result.error.code, result.error.message).toBe(code);
  if (detail !== undefined) expect(result.error.detail, result.error.message).toBe(detail);
}

/** True when `result` is a well-formed Result: a success, or a P3Error with a code of the ErrorCode table. */
export function isWellFormedResult(result: unknown): boolean {
  if (result === null || typeof result !== 'object') return false;
  const r = result as { ok?: unknown; value?: unknown; error?: unknown };
  if (r.ok === true) return 'value' in r;
  return r.ok === false && r.error instanceof P3Error && knownCodes.has(r.error.code);
}
