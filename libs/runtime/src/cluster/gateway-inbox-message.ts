import type { JsonValue } from '@p3/protocol';
import type { RoomKey } from '../ports/snapshot-store.js';
import {
  CLUSTER_WIRE_VERSION,
  decodeWireObject,
  encodeWire,
  isCount,
  describe,
  isText,
  malformed,
  type WireDecodeResult,
} from './wire-json.js';

/** What a simulator tells one gateway on `gatewayInbox(id)`. */
export type GatewayInboxMessage =
  /** The join was accepted under `epoch`; its welcome is (or will be) in the room's output. */
  | { readonly kind: 'joined'; readonly id: string; readonly epoch: number }
  /** A document call's answer (see DocumentCall). */
  | { readonly kind: 'result'; readonly id: string; readonly value: JsonValue }
  /**
   * One of `count` pieces of the JSON text of a `result` too large for one bus message; the gateway puts them
   * together by `index` (a piece lost makes the call time out and be asked again).
   */
  | {
      readonly kind: 'result-part';
      readonly id: string;
      readonly index: number;
      readonly count: number;
      readonly text: string;
    }
  /** The room refused the join (full, forbidden, quota...): the client gets this error and close code. */
  | {
      readonly kind: 'refused';
      readonly id: string;
      readonly code: string;
      readonly reason: string;
      readonly closeCode: number;
    }
  /**
   * This simulator does not own the room: ask `owner` (placement's pick or the lease holder), or ask again after
   * `retryMs` when nobody can be named yet (the previous owner's lease has not expired).
   */
  | { readonly kind: 'elsewhere'; readonly id: string; readonly owner?: string; readonly retryMs: number }
  /**
   * Inputs came for attachments the room's owner does not know (it took the room over, or restarted): the gateway
   * closes those sockets with a reconnect code, and their clients resume with a delta.
   */
  | { readonly kind: 'detached'; readonly key: RoomKey; readonly attachments: readonly string[] };

export function encodeGatewayInboxMessage(message: GatewayInboxMessage): Uint8Array {
  if (message.kind === 'detached') {
    const { key, ...rest } = message;
    return encodeWire({ v: CLUSTER_WIRE_VERSION, ...rest, tenant: key.tenant, room: key.room });
  }
  return encodeWire({ v: CLUSTER_WIRE_VERSION, ...message });
}

export function decodeGatewayInboxMessage(bytes: Uint8Array): WireDecodeResult<GatewayInboxMessage> {
  const parsed = decodeWireObject(bytes);
  if (!parsed.ok) return parsed;
  const o = parsed.value;
  switch (o.kind) {
    case 'joined':
      if (!isText(o.id, 128) || !isCount(o.epoch)) return malformed('joined: id and epoch required');
      return { ok: true, value: { kind: 'joined', id: o.id, epoch: o.epoch } };
    case 'result':
      if (!isText(o.id, 128) || o.value === undefined) return malformed('result: id and value required');
      return { ok: true, value: { kind: 'result', id: o.id, value: o.value as JsonValue } };
    case 'result-part':
      if (
        !isText(o.id, 128) ||
        !isCount(o.index) ||
        !isCount(o.count) ||
        o.count > 100_000 ||
        o.index >= o.count ||
        typeof o.text !== 'string'
      )
        return malformed('result-part: id, index < count and text required');
      return {
        ok: true,
        value: { kind: 'result-part', id: o.id, index: o.index, count: o.count, text: o.text },
      };
    case 'refused':
      if (!isText(o.id, 128) || !isText(o.code, 64) || typeof o.reason !== 'string' || !isCount(o.closeCode))
        return malformed('refused: id, code, reason and closeCode required');
      return {
        ok: true,
        value: {
          kind: 'refused',
          id: o.id,
          code: o.code,
          reason: o.reason.slice(0, 1024),
          closeCode: o.closeCode,
        },
      };
    case 'elsewhere':
      if (!isText(o.id, 128) || !isCount(o.retryMs) || (o.owner !== undefined && !isText(o.owner, 256)))
        return malformed('elsewhere: id and retryMs required, owner a string when given');
      return {
        ok: true,
        value: {
          kind: 'elsewhere',
          id: o.id,
          retryMs: o.retryMs,
          ...(o.owner === undefined ? {} : { owner: o.owner as string }),
        },
      };
    case 'detached': {
      const { attachments } = o;
      if (!isText(o.tenant) || !isText(o.room) || !Array.isArray(attachments) || attachments.length > 10_000)
        return malformed('detached: tenant, room and an attachments list required');
      if (!attachments.every((a) => isText(a, 512)))
        return malformed('detached: attachments must be strings');
      return {
        ok: true,
        value: {
          kind: 'detached',
          key: { tenant: o.tenant, room: o.room },
          attachments: attachments as string[],
        },
      };
    }
    default:
      return malformed(`unknown kind ${describe(o.kind)}`);
  }
}
