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
  | { readonly kind: 'welcome'; readonly attachment: string; readonly message: string };

/** The payload of one room output envelope: what the room emitted during one turn (a tick and its acks). */
export interface RoomOutputBatch {
  readonly items: readonly RoomOutputItem[];
}

const maxItems = 100_000;

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
    else return malformed('output: an item is a broadcast, send, close or welcome');
  }
  return { ok: true, value: { items: out } };
}
