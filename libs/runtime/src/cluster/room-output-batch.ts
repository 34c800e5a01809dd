import {
  CLUSTER_WIRE_VERSION,
  decodeWireObject,
  encodeWire,
  isCount,
  isRecord,
  isText,
  malformed,
  type WireDecodeResult,
} from './wire-json.js';

/**
 * One room output item. Messages travel as the JSON codec's text: the gateway hands it to JSON sockets as it is,
 * and re-encodes it for binary sockets with the room's binary codec, whose entity directory lives at the gateway
 * (each gateway numbers the entities of the rooms it serves for its own sockets; nothing per-room crosses NATS).
 */
export type RoomOutputItem =
  /** To every member of the room on every gateway (frames, idle heartbeats). */
  | { readonly kind: 'broadcast'; readonly message: string }
  /** To one member (acks, pongs, catch-ups, errors), wherever its socket is. */
  | { readonly kind: 'send'; readonly connectionId: string; readonly message: string }
  /** Ends one member's socket with a close code. */
  | { readonly kind: 'close'; readonly connectionId: string; readonly code: number; readonly reason: string }
  /** The welcome of a join, to the gateway holding `attachment`: ordered with the frames around it. */
  | { readonly kind: 'welcome'; readonly attachment: string; readonly message: string }
  /**
   * The start of the next message-carrying item's text, for a message larger than one bus message: the receiver
   * prepends every part it holds to the next broadcast, send or welcome (see splitOutputItems, OutputPartAssembler).
   */
  | { readonly kind: 'part'; readonly message: string };

/** The payload of one room output envelope: what the room emitted during one turn (a tick and its acks). */
export interface RoomOutputBatch {
  readonly items: readonly RoomOutputItem[];
}

const maxItems = 100_000;
const encoder = new TextEncoder();

export function encodeRoomOutputBatch(batch: RoomOutputBatch): Uint8Array {
  return encodeWire({ v: CLUSTER_WIRE_VERSION, items: batch.items.map(itemToWire) });
}

function itemToWire(item: RoomOutputItem): Record<string, unknown> {
  switch (item.kind) {
    case 'broadcast':
      return { b: item.message };
    case 'send':
      return { to: item.connectionId, m: item.message };
    case 'close':
      return { close: item.connectionId, code: item.code, reason: item.reason };
    case 'welcome':
      return { welcome: item.attachment, m: item.message };
    case 'part':
      return { part: item.message };
  }
}

export function decodeRoomOutputBatch(bytes: Uint8Array): WireDecodeResult<RoomOutputBatch> {
  const parsed = decodeWireObject(bytes);
  if (!parsed.ok) return parsed;
  const { items } = parsed.value;
  if (!Array.isArray(items) || items.length > maxItems) return malformed('output: items must be a list');
  const out: RoomOutputItem[] = [];
  for (const item of items) {
    if (!isRecord(item)) return malformed('output: every item must be an object');
    if (typeof item.b === 'string') out.push({ kind: 'broadcast', message: item.b });
    else if (isText(item.to, 256) && typeof item.m === 'string')
      out.push({ kind: 'send', connectionId: item.to, message: item.m });
    else if (isText(item.close, 256) && isCount(item.code) && typeof item.reason === 'string')
      out.push({
        kind: 'close',
        connectionId: item.close,
        code: item.code,
        reason: item.reason.slice(0, 1024),
      });
    else if (isText(item.welcome, 512) && typeof item.m === 'string')
      out.push({ kind: 'welcome', attachment: item.welcome, message: item.m });
    else if (typeof item.part === 'string') out.push({ kind: 'part', message: item.part });
    else return malformed('output: an item is a broadcast, send, close, welcome or part');
  }
  return { ok: true, value: { items: out } };
}

/**
 * Groups `items` into batches whose encoding stays within `maxBytes` each, in order: whole items together while they
 * fit, and an item too large for any batch cut into `part` items carrying its text, each in a batch of its own,
 * followed by the item with the rest. Pure: the same items always give the same batches.
 *
 * @example
 * for (const items of splitOutputItems(room.items, bus.maxPayload - 64)) publisher.publish(frame, encodeRoomOutputBatch({ items }));
 */
export function splitOutputItems(items: readonly RoomOutputItem[], maxBytes: number): RoomOutputItem[][] {
  const batches: RoomOutputItem[][] = [];
  // Sizes add up: the empty batch, then each item's JSON and one comma. Each item is encoded once (linear).
  const empty = encodeRoomOutputBatch({ items: [] }).byteLength;
  const sizeOf = (item: RoomOutputItem) => encoder.encode(JSON.stringify(itemToWire(item))).byteLength + 1;
  let current: RoomOutputItem[] = [];
  let used = empty;
  for (const item of items) {
    const size = sizeOf(item);
    if (used + size <= maxBytes) {
      current.push(item);
      used += size;
      continue;
    }
    if (current.length > 0) batches.push(current);
    current = [];
    used = empty;
    if (empty + size <= maxBytes) {
      current.push(item);
      used += size;
      continue;
    }
    if (item.kind === 'close' || item.kind === 'part')
      throw new RangeError(`a ${item.kind} item larger than ${maxBytes} bytes cannot be split`);
    // Worst case a character takes 6 bytes in the batch (a \uXXXX escape): chunks of this many always fit.
    const chunk = Math.max(1, Math.floor((maxBytes - 256) / 6));
    const text = item.message;
    let at = 0;
    while (text.length - at > chunk) {
      // Never between the two halves of a surrogate pair: each part must stay valid text.
      let end = at + chunk;
      const code = text.charCodeAt(end - 1);
      if (code >= 0xd800 && code <= 0xdbff) end--;
      batches.push([{ kind: 'part', message: text.slice(at, end) }]);
      at = end;
    }
    const rest = { ...item, message: text.slice(at) };
    current.push(rest);
    used += sizeOf(rest);
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

/** Puts `part` items back together: `accept` returns the item to act on (its whole text), or undefined for a part. */
export class OutputPartAssembler {
  private held = '';

  accept(item: RoomOutputItem): RoomOutputItem | undefined {
    if (item.kind === 'part') {
      this.held += item.message;
      return undefined;
    }
    if (this.held === '' || item.kind === 'close') return item;
    const whole = { ...item, message: this.held + item.message };
    this.held = '';
    return whole;
  }

  /** Parts held when a gap broke the stream are useless: forget them. */
  reset(): void {
    this.held = '';
  }
}
