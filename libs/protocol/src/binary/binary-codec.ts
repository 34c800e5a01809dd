/**
 * The binary codec of P3 (subprotocol `p3.binary`). Wire rules, in short (libs/protocol/README.md, "Binary codec"):
 *
 * - A message is 1 tag byte and a body. Client tags 0x01-0x07 (join, ops, cover, frameAck, ping, resync, leave),
 *   server tags 0x41-0x47 (welcome, frame, catchup, ack, reject, pong, error).
 * - Integers: unsigned LEB128 varints up to 2^53-1 (at most 9 bytes); signed ones zigzag (sign in bit 0 of the
 *   first byte, magnitude above it, with arithmetic so every safe integer fits). Times: float64 LE, finite.
 *   Strings: varint byte length + UTF-8. Optional parts: a flags byte.
 * - Field values by the spec of their field in the wire schema (`toWireSchema`): boolean 1 byte; integer with
 *   min: varint(v - min), without: zigzag; number with min and max: q = round((clamp(v) - min) / step) in the
 *   fewest whole bytes that hold round((max - min) / step) (step = precision ?? (max - min) / 65535), decoded as
 *   min(min + q * step, max); number with only precision: zigzag(round(v / precision)); other numbers: float64;
 *   string: length + UTF-8; json: length + JSON text. A set of fields is a bitset over the type's field order
 *   (LEB128 7-bit groups), then the values of the set bits in field order.
 * - Entities in `welcome`, `frame` and `catchup` are written as n from a room-wide directory: varint 4n + mode,
 *   mode 0 REF (update of fields only), 1 REF + flags byte, 2 DEFINE (16 uuid bytes, type index; + flags byte in
 *   updates), 3 RAW (n = 0, 16 uuid bytes; removal lists only). The server assigns n = 1, 2, 3... never reused,
 *   and drops an entry `retainFrames` frames after its entity's removal. A frame defines an entity on first
 *   mention, on `created`, on a type change, after its removal (REFs point at live entities only, so a client may
 *   drop removed entries on its own clock), and when only a welcome/catchup defined it so far; a catchup defines
 *   everything it mentions; a welcome starts with the full directory, which replaces the client's.
 * - Client ops carry raw 16-byte ids. `create`/`update` carry a type index and a typed field set; when the client
 *   codec does not know the type (unknown entity, type missing from its schema) they fall back to (name, JSON
 *   text) pairs.
 * - Decoders check the size first, every length and count against the bytes left, and return typed errors
 *   (TRUNCATED, TRAILING_BYTES, VARINT_OVERFLOW, MALFORMED, NOT_FINITE, PROTOTYPE_KEY, UNKNOWN_MESSAGE_TYPE,
 *   UNKNOWN_ENTITY_TYPE, UNKNOWN_FIELD, UNKNOWN_ENTITY_REF, ...); client messages then pass the same
 *   `validateClientMessage` as under the JSON codec. A failed encode or decode leaves the directory unchanged.
 */
import {
  defaultCodecLimits,
  type ClientCodec,
  type CodecLimits,
  type ServerCodec,
  type WireData,
} from '../codec.js';
import { ErrorCode, fail, ok, type Result } from '../errors.js';
import { guard, guardFailure } from '../field-checks.js';
import type { ClientMessage, ServerMessage } from '../messages.js';
import type { WorldSchema } from '../schema.js';
import { validateClientMessage } from '../validate-client-message.js';
import { ByteReader } from './byte-reader.js';
import { ByteWriter } from './byte-writer.js';
import { readCheckedOps, readClientMessage, writeClientMessage } from './client-messages.js';
import { EntityDirectory, type DirectoryView } from './entity-directory.js';
import { FieldSetCodec } from './field-set.js';
import { KnownTypes } from './known-types.js';
import { SchemaTables } from './schema-tables.js';
import { readServerMessage, writeServerMessage } from './server-messages.js';
import { ClientTag, type WireContext } from './wire-format.js';

export interface BinaryCodecOptions extends CodecLimits {
  /**
   * Frames a removed entity keeps its directory entry (and n) before the server codec drops it. A client codec
   * adopts the server's value from `welcome`.
   */
  readonly retainFrames: number;
  /** Largest server message a client decodes (a welcome with a large world). */
  readonly maxServerMessageBytes: number;
}

export const defaultBinaryCodecOptions: BinaryCodecOptions = {
  ...defaultCodecLimits,
  retainFrames: 120,
  maxServerMessageBytes: 256 << 20,
};

/**
 * The compact codec: one instance per room on the server (each frame is encoded once and the bytes go to every
 * member), one per connection on the client (it mirrors the room's entity directory).
 *
 * @example
 * const server = new BinaryCodec(schema);            // per room
 * const client = new BinaryCodec();                  // per connection: learns the schema from `welcome`
 * const r = client.decodeServer(server.encodeServer(welcome));
 */
export class BinaryCodec implements ServerCodec, ClientCodec {
  readonly name = 'binary' as const;
  readonly options: BinaryCodecOptions;
  private ctx: WireContext;
  private readonly writer = new ByteWriter();
  private readonly reader = new ByteReader(new Uint8Array(0));
  private readonly known = new KnownTypes();

  constructor(schema: WorldSchema = {}, options: Partial<BinaryCodecOptions> = {}) {
    this.options = mergeOptions(options);
    this.ctx = {
      tables: new SchemaTables(schema),
      directory: new EntityDirectory(this.options.retainFrames),
      fieldSets: new FieldSetCodec(),
      maxDepth: this.options.maxDepth,
    };
  }

  /** The wire schema in use: the constructor's (non-replicable fields removed) or the last welcome's. */
  get schema(): WorldSchema {
    return this.ctx.tables.schema;
  }

  get directory(): DirectoryView {
    return this.ctx.directory;
  }

  /** Server side. Never throws. */
  decodeClient(data: WireData): Result<ClientMessage> {
    if (typeof data === 'string') return fail(ErrorCode.Malformed, 'the binary codec reads bytes, not text');
    if (data.byteLength > this.options.maxMessageBytes) {
      return fail(
        ErrorCode.TooLarge,
        `message of ${data.byteLength} bytes exceeds ${this.options.maxMessageBytes}`,
      );
    }
    this.ctx.fieldSets.begin();
    if (data[0] === ClientTag.Ops) {
      // The server's hot path (every client message): no closure, one reader per codec, reset per message.
      const reader = this.reader.reset(data);
      try {
        const checked = readCheckedOps(reader, this.ctx);
        if (checked !== undefined) return { ok: true, value: checked };
      } catch (cause) {
        return guardFailure(cause);
      } finally {
        reader.release();
      }
    }
    this.ctx.fieldSets.begin();
    const read = guard(() => readClientMessage(new ByteReader(data), this.ctx));
    return read.ok ? validateClientMessage(read.value) : read;
  }

  /** Server side. Throws a P3Error for input that breaks the schema (trusted input); the directory is then unchanged. */
  encodeServer(message: ServerMessage): Uint8Array {
    const w = this.writer;
    const directory = this.ctx.directory;
    w.reset();
    directory.begin();
    this.ctx.fieldSets.begin();
    try {
      writeServerMessage(w, this.ctx, message);
    } catch (error) {
      directory.rollback();
      throw error;
    }
    directory.commit();
    if (message.type === 'frame') {
      const frame = message.frame;
      directory.advanceTo(frame.id);
      noteLifecycle(directory, frame.entities, frame.removed);
    }
    return w.finish();
  }

  /** Client side. Throws a P3Error for input that breaks the schema (trusted input). */
  encodeClient(message: ClientMessage): Uint8Array {
    const w = this.writer;
    w.reset();
    this.ctx.fieldSets.begin();
    try {
      writeClientMessage(w, this.ctx, this.known, message);
    } catch (error) {
      this.known.rollback();
      throw error;
    }
    this.known.commit();
    return w.finish();
  }

  /** Client side. Never throws; a failed decode leaves the directory (and schema) as they were. */
  decodeServer(data: WireData): Result<ServerMessage> {
    if (typeof data === 'string') return fail(ErrorCode.Malformed, 'the binary codec reads bytes, not text');
    const max = Math.max(this.options.maxMessageBytes, this.options.maxServerMessageBytes);
    if (data.byteLength > max) {
      return fail(ErrorCode.TooLarge, `message of ${data.byteLength} bytes exceeds ${max}`);
    }
    const directory = this.ctx.directory;
    directory.begin();
    this.ctx.fieldSets.begin();
    const read = guard(() => readServerMessage(new ByteReader(data), this.ctx));
    if (!read.ok) {
      directory.rollback();
      return read;
    }
    directory.commit();
    const { message, adopt, retired } = read.value;
    if (adopt !== undefined) this.ctx = { ...this.ctx, tables: adopt.tables, directory: adopt.directory };
    const current = this.ctx.directory;
    if (message.type === 'frame') current.advanceTo(message.frame.id);
    else if (message.type === 'catchup') current.advanceTo(message.to);
    if (message.type === 'frame' || message.type === 'catchup' || message.type === 'welcome') {
      noteLifecycle(current, message.type === 'frame' ? message.frame.entities : message.entities, retired);
    }
    return ok(message);
  }
}

/**
 * After a message committed: creations cancel pending drops, retirements schedule them, old entries are dropped.
 * A server retires what its frames remove; a client what the server wrote as REF/DEFINE in removal lists (the
 * server's entry is retired too), so a client never drops an entry the server may still REF.
 */
function noteLifecycle(
  directory: EntityDirectory,
  entities: readonly { readonly id: string; readonly created?: boolean }[],
  retired: readonly string[],
): void {
  for (let i = 0; i < entities.length; i++) {
    const update = entities[i] as { readonly id: string; readonly created?: boolean };
    if (update.created === true) directory.revive(update.id);
  }
  for (let i = 0; i < retired.length; i++) directory.retire(retired[i] as string);
  directory.collect();
}

function mergeOptions(options: Partial<BinaryCodecOptions>): BinaryCodecOptions {
  const merged = { ...defaultBinaryCodecOptions, ...options };
  const checks: [keyof BinaryCodecOptions, number][] = [
    ['maxMessageBytes', 1],
    ['maxServerMessageBytes', 1],
    ['maxDepth', 0],
    ['retainFrames', 0],
  ];
  for (const [key, min] of checks) {
    if (!Number.isSafeInteger(merged[key]) || merged[key] < min) {
      throw new RangeError(`BinaryCodec option ${key} must be an integer >= ${min}`);
    }
  }
  return merged;
}
