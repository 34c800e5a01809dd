import type { EntityDirectory } from './entity-directory.js';
import type { FieldSetCodec } from './field-set.js';
import type { SchemaTables } from './schema-tables.js';

/** First byte of a client -> server message. */
export const ClientTag = {
  Join: 0x01,
  Ops: 0x02,
  Cover: 0x03,
  FrameAck: 0x04,
  Ping: 0x05,
  Resync: 0x06,
  Leave: 0x07,
} as const;

/** First byte of a server -> client message (a range apart from client tags, so a misrouted message is refused). */
export const ServerTag = {
  Welcome: 0x41,
  Frame: 0x42,
  Catchup: 0x43,
  Ack: 0x44,
  Reject: 0x45,
  Pong: 0x46,
  Error: 0x47,
  Idle: 0x48,
} as const;

/**
 * An entity reference is a varint h = 4n + mode.
 * - Ref: the entity n of the directory; an update of only `fields` (no flags byte follows).
 * - RefFlags: the entity n of the directory; a flags byte follows.
 * - Define: 16 uuid bytes and a varint type index follow; n now stands for them. In updates a flags byte follows.
 * - Raw: h = 3 exactly, 16 uuid bytes follow; no directory entry (removal lists only).
 */
export const EntityMode = { Ref: 0, RefFlags: 1, Define: 2, Raw: 3 } as const;

/** Flags byte of an entity update. */
export const UpdateFlag = {
  Created: 1,
  /** `created: false` written out (distinct from absent). */
  NotCreated: 2,
  Owner: 4,
  /** With Owner: a string follows; without it the owner is null. */
  OwnerString: 8,
  Fields: 16,
  Input: 32,
} as const;
export const updateFlagMask = 63;

/** Frame type in bits 0-1 of the frame flags byte. */
export const frameTypeCodes = ['verified', 'generated', 'corrected'] as const;
/** Bit 2 of the frame flags byte: `prev` follows the frame id, as the varint `id - 1 - prev` (frames skipped). */
export const FramePrevFlag = 4;

/** Op header byte: kind in bits 0-2, then flags. */
export const OpKind = { Input: 0, Create: 1, Update: 2, Delete: 3, Event: 4 } as const;
export const OpFlag = {
  Frame: 8,
  /** create/update: data as (name, JSON text) pairs; create: the type as a name instead of an index. */
  Untyped: 16,
} as const;

/**
 * Where a JSON part sits in the equivalent JSON message: parts are parsed with `maxDepth - offset`, so both
 * codecs allow the same nesting (e.g. a field of a frame entity is inside message{frame{entities[entity{fields{).
 */
export const JsonDepthOffset = {
  schema: 1,
  frameField: 5,
  frameEvent: 4,
  snapshotField: 4,
  opField: 4,
  opEvent: 3,
} as const;

/** Largest entity and removal lists of one message (as in the JSON decoder). */
export const maxEntities = 1_000_000;

/** What message readers and writers share with their codec. */
export interface WireContext {
  readonly tables: SchemaTables;
  readonly directory: EntityDirectory;
  readonly fieldSets: FieldSetCodec;
  readonly maxDepth: number;
}
