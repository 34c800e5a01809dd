import { ErrorCode, P3Error } from '../errors.js';
import { asString } from '../field-checks.js';
import type { JsonValue } from '../json-value.js';
import { messageLimits, type EntityUpdate, type InputState } from '../messages.js';
import { malformed, type ByteReader } from './byte-reader.js';
import type { ByteWriter } from './byte-writer.js';
import type { DirectoryEntry } from './entity-directory.js';
import { readInputState, writeInputState } from './input-state.js';
import { EntityMode, UpdateFlag, updateFlagMask, type WireContext } from './wire-format.js';

/**
 * Which message an entity list belongs to, which decides when an entity is (re)defined:
 * - Frame (sent to every member): on first mention, on a type change, on `created`, after the entity's removal
 *   (clients drop removed entries on their own clock), and when only a welcome/catchup defined it so far.
 * - Welcome (one client, after the full directory): only entities the directory does not hold (or under another type).
 * - Catchup (one client that may have missed the frames that defined them): always.
 */
export const Scope = { Frame: 0, Welcome: 1, Catchup: 2 } as const;
export type Scope = (typeof Scope)[keyof typeof Scope];

/** Encodes one entity update, assigning or refreshing its directory entry (recorded: the codec rolls back on failure). */
export function writeEntityUpdate(w: ByteWriter, ctx: WireContext, update: EntityUpdate, scope: Scope): void {
  const type = ctx.tables.typeNamed(update.typeName);
  const directory = ctx.directory;
  const shared = scope === Scope.Frame;
  let entry = directory.byId(update.id);
  let define: boolean;
  if (entry === undefined) {
    entry = directory.assign(update.id, type.index, shared);
    define = true;
  } else if (entry.typeIndex !== type.index || (shared && !entry.announced)) {
    entry = directory.update(entry, type.index, shared);
    define = true;
  } else {
    // After a removal a client may drop the entry on its own clock: frames REF only live entities.
    define =
      scope === Scope.Catchup || (shared && (update.created === true || entry.removedAt !== undefined));
  }

  let flags = 0;
  if (update.created === true) flags |= UpdateFlag.Created;
  else if (update.created === false) flags |= UpdateFlag.NotCreated;
  if (update.owner !== undefined) {
    flags |= update.owner === null ? UpdateFlag.Owner : UpdateFlag.Owner | UpdateFlag.OwnerString;
  }
  if (update.fields !== undefined) flags |= UpdateFlag.Fields;
  if (update.input !== undefined) flags |= UpdateFlag.Input;

  if (define) {
    w.varint(entry.n * 4 + EntityMode.Define);
    w.uuid(update.id);
    w.varint(type.index);
    w.u8(flags);
  } else if (flags === UpdateFlag.Fields) {
    w.varint(entry.n * 4 + EntityMode.Ref);
  } else {
    w.varint(entry.n * 4 + EntityMode.RefFlags);
    w.u8(flags);
  }
  if ((flags & UpdateFlag.OwnerString) !== 0) w.string(update.owner as string, 'owner');
  if (update.fields !== undefined) ctx.fieldSets.write(w, type, update.fields);
  if (update.input !== undefined) writeInputState(w, update.input);
}

type MutableUpdate = {
  id: string;
  typeName: string;
  created?: boolean;
  owner?: string | null;
  fields?: Record<string, JsonValue>;
  input?: InputState;
};

/** Decodes one entity update; a REF to an n the directory does not hold is UNKNOWN_ENTITY_REF. */
export function readEntityUpdate(r: ByteReader, ctx: WireContext, jsonDepth: number): EntityUpdate {
  const h = r.varint('entity');
  const mode = h % 4;
  const n = (h - mode) / 4;
  let entry: DirectoryEntry;
  let flags: number;
  if (mode === EntityMode.Ref || mode === EntityMode.RefFlags) {
    entry = resolve(ctx, n);
    flags = mode === EntityMode.Ref ? UpdateFlag.Fields : r.flags('entity flags', updateFlagMask);
  } else if (mode === EntityMode.Define) {
    entry = readDefine(r, ctx, n);
    flags = r.flags('entity flags', updateFlagMask);
  } else {
    return malformed('an entity update needs a directory number', 'entity');
  }
  if (
    (flags & (UpdateFlag.Created | UpdateFlag.NotCreated)) ===
    (UpdateFlag.Created | UpdateFlag.NotCreated)
  ) {
    malformed('entity flags say created and not created', 'entity');
  }
  if ((flags & (UpdateFlag.Owner | UpdateFlag.OwnerString)) === UpdateFlag.OwnerString) {
    malformed('entity flags have an owner string without an owner', 'entity');
  }
  const type = ctx.tables.typeAt(entry.typeIndex);
  // The usual update (fields of a known entity) as one literal: no property added later, no object reshaped.
  if (flags === UpdateFlag.Fields)
    return { id: entry.uuid, typeName: type.name, fields: ctx.fieldSets.read(r, type, jsonDepth) };
  const update: MutableUpdate = { id: entry.uuid, typeName: type.name };
  if ((flags & UpdateFlag.Created) !== 0) update.created = true;
  else if ((flags & UpdateFlag.NotCreated) !== 0) update.created = false;
  if ((flags & UpdateFlag.Owner) !== 0) {
    update.owner =
      (flags & UpdateFlag.OwnerString) !== 0
        ? asString(r.string('owner'), 'owner', messageLimits.maxIdLength)
        : null;
  }
  if ((flags & UpdateFlag.Fields) !== 0) update.fields = ctx.fieldSets.read(r, type, jsonDepth);
  if ((flags & UpdateFlag.Input) !== 0) update.input = readInputState(r);
  return update;
}

/**
 * Encodes one id of a removal list. A REF or DEFINE tells the client to retire the entry (drop it later on its own
 * clock), so they are written only when the server's entry is retired too (frames retire what they remove):
 * - Frame: a live entry: REF when every member holds it (announced), else DEFINE.
 * - Welcome: an entry already retired: REF (the welcome's directory holds it).
 * - Catchup: an entry already retired: DEFINE (a catchup defines what it mentions).
 * Anything else is RAW: the uuid, and no directory change.
 */
export function writeRemoved(w: ByteWriter, ctx: WireContext, id: string, scope: Scope): void {
  const entry = ctx.directory.byId(id);
  const live = entry !== undefined && entry.removedAt === undefined;
  if (entry === undefined || live !== (scope === Scope.Frame)) {
    w.varint(EntityMode.Raw);
    w.uuid(id);
  } else if (scope === Scope.Welcome || (scope === Scope.Frame && entry.announced)) {
    w.varint(entry.n * 4 + EntityMode.Ref);
  } else {
    w.varint(entry.n * 4 + EntityMode.Define);
    w.uuid(id);
    w.varint(entry.typeIndex);
  }
}

/** Reads one id of a removal list; ids written as REF or DEFINE are added to `retired`. */
export function readRemoved(r: ByteReader, ctx: WireContext, retired: string[]): string {
  const h = r.varint('removed');
  const mode = h % 4;
  const n = (h - mode) / 4;
  let id: string;
  switch (mode) {
    case EntityMode.Ref:
      id = resolve(ctx, n).uuid;
      break;
    case EntityMode.Define:
      id = readDefine(r, ctx, n).uuid;
      break;
    case EntityMode.Raw:
      if (n !== 0) malformed('a raw id has no directory number', 'removed');
      return r.uuid('removed');
    default:
      return malformed('removal lists have no entity flags', 'removed');
  }
  retired.push(id);
  return id;
}

function resolve(ctx: WireContext, n: number): DirectoryEntry {
  const entry = ctx.directory.at(n);
  if (entry === undefined) {
    throw new P3Error(ErrorCode.UnknownEntityRef, `entity #${n} is not in the directory`, {
      detail: String(n),
    });
  }
  return entry;
}

function readDefine(r: ByteReader, ctx: WireContext, n: number): DirectoryEntry {
  if (n === 0) malformed('directory numbers start at 1', 'entity');
  const uuid = r.uuid('entity id');
  const typeIndex = r.varint('type index');
  ctx.tables.typeAt(typeIndex);
  return ctx.directory.define(n, uuid, typeIndex);
}
