import {
  CLUSTER_WIRE_VERSION,
  decodeWireObject,
  encodeWire,
  isRecord,
  isText,
  malformed,
  type WireDecodeResult,
} from './wire-json.js';

/** One input of a member, named by its attachment (see JoinCommand.attachment). */
export type RoomInputItem =
  /** A client message (never `join`) as JSON text: the simulator decodes and validates it like a socket's. */
  | { readonly attachment: string; readonly message: string }
  /** The member's socket closed: the room keeps its session for the resume grace (if the attachment is current). */
  | { readonly attachment: string; readonly leave: true };

/**
 * What one gateway sends on `roomInput(key)`: the inputs of its members gathered during one turn of its event
 * loop, in arrival order (one bus message for many ops: the bus keeps one publisher's order on one subject).
 */
export interface RoomInputBatch {
  readonly gateway: string;
  readonly items: readonly RoomInputItem[];
  /**
   * Every attachment this gateway holds in the room (joins in flight included), sent every few seconds: the owner
   * ends the sessions of this gateway missing from two rosters in a row, whose `leave` the bus lost (at most once).
   */
  readonly roster?: readonly string[];
}

const maxItems = 100_000;

export function encodeRoomInputBatch(batch: RoomInputBatch): Uint8Array {
  return encodeWire({
    v: CLUSTER_WIRE_VERSION,
    gateway: batch.gateway,
    items: batch.items.map((item) =>
      'leave' in item ? { a: item.attachment, leave: true } : { a: item.attachment, m: item.message },
    ),
    ...(batch.roster === undefined ? {} : { roster: batch.roster }),
  });
}

export function decodeRoomInputBatch(bytes: Uint8Array): WireDecodeResult<RoomInputBatch> {
  const parsed = decodeWireObject(bytes);
  if (!parsed.ok) return parsed;
  const { gateway, items, roster } = parsed.value;
  if (!isText(gateway, 256)) return malformed('input: gateway must be a non-empty string');
  if (!Array.isArray(items) || items.length > maxItems) return malformed('input: items must be a list');
  const out: RoomInputItem[] = [];
  for (const item of items) {
    if (!isRecord(item) || !isText(item.a, 512)) return malformed('input: every item needs an attachment');
    if (item.leave === true) out.push({ attachment: item.a, leave: true });
    else if (typeof item.m === 'string') out.push({ attachment: item.a, message: item.m });
    else return malformed('input: an item is a message (m) or a leave');
  }
  if (roster === undefined) return { ok: true, value: { gateway, items: out } };
  if (!Array.isArray(roster) || roster.length > maxItems || !roster.every((a) => isText(a, 512)))
    return malformed('input: roster must be a list of attachments');
  return { ok: true, value: { gateway, items: out, roster: roster as string[] } };
}
