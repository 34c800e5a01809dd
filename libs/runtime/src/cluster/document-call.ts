import { validatePatch, type JsonValue, type Patch } from '@p3/protocol';
import type { RoomKey } from '../ports/snapshot-store.js';
import type { Principal } from '../room-service.js';
import { decodeJoinCommand, type JoinCommand } from './join-command.js';
import {
  CLUSTER_WIRE_VERSION,
  decodeWireObject,
  encodeWire,
  isCount,
  isText,
  malformed,
  roomFields,
  type WireDecodeResult,
} from './wire-json.js';

/** What a gateway asks of a document room's owner for the seed-002 HTTP API (see DocumentApi). */
export type DocumentCallOp =
  | { readonly op: 'bootstrap'; readonly since?: number }
  | { readonly op: 'change'; readonly patches: readonly Patch[]; readonly origin: string }
  /** Start sending this gateway the room's durable changes (broadcast `change` items in the room's output). */
  | { readonly op: 'follow' }
  | { readonly op: 'unfollow' }
  | { readonly op: 'catchup'; readonly from: number };

/** A request to the owner of a document room (`simulatorInbox`); the answer is a `result` or a `refused`. */
export type DocumentCall = DocumentCallOp & {
  readonly id: string;
  readonly gateway: string;
  readonly key: RoomKey;
  readonly principal?: Principal;
};

/** A simulator inbox message: a join (world member or document socket) or a document call. */
export type SimulatorRequest =
  | { readonly kind: 'join'; readonly command: JoinCommand }
  | { readonly kind: 'call'; readonly call: DocumentCall };

export function encodeDocumentCall(call: DocumentCall): Uint8Array {
  const { key, principal, ...rest } = call;
  return encodeWire({
    v: CLUSTER_WIRE_VERSION,
    kind: 'call',
    ...rest,
    ...roomFields(key, principal),
  });
}

export function decodeSimulatorRequest(bytes: Uint8Array): WireDecodeResult<SimulatorRequest> {
  const parsed = decodeWireObject(bytes);
  if (!parsed.ok) return parsed;
  const o = parsed.value;
  if (o.kind === undefined) {
    const join = decodeJoinCommand(bytes);
    return join.ok ? { ok: true, value: { kind: 'join', command: join.value } } : join;
  }
  if (o.kind !== 'call') return malformed('simulator request: kind must be call when given');
  if (!isText(o.id, 128) || !isText(o.gateway, 256)) return malformed('call: id and gateway required');
  if (!isText(o.tenant) || !isText(o.room)) return malformed('call: tenant and room required');
  const hasUser = o.user !== undefined;
  if (hasUser && (typeof o.user !== 'string' || typeof o.team !== 'string'))
    return malformed('call: user and team must be strings');
  const base = {
    id: o.id,
    gateway: o.gateway,
    key: { tenant: o.tenant, room: o.room },
    ...(hasUser ? { principal: { user: o.user as string, team: o.team as string } } : {}),
  };
  switch (o.op) {
    case 'bootstrap':
      if (o.since !== undefined && !isCount(o.since)) return malformed('call: since must be a count');
      return {
        ok: true,
        value: {
          kind: 'call',
          call: { ...base, op: 'bootstrap', ...(o.since === undefined ? {} : { since: o.since as number }) },
        },
      };
    case 'change': {
      if (!Array.isArray(o.patches) || typeof o.origin !== 'string')
        return malformed('call: patches and origin required');
      const patches: Patch[] = [];
      for (const candidate of o.patches) {
        const patch = validatePatch(candidate as JsonValue);
        if (!patch.ok) return malformed(`call: bad patch: ${patch.error.message}`);
        patches.push(patch.value);
      }
      return {
        ok: true,
        value: { kind: 'call', call: { ...base, op: 'change', patches, origin: o.origin } },
      };
    }
    case 'follow':
    case 'unfollow':
      return { ok: true, value: { kind: 'call', call: { ...base, op: o.op } } };
    case 'catchup':
      if (!isCount(o.from)) return malformed('call: from must be a count');
      return { ok: true, value: { kind: 'call', call: { ...base, op: 'catchup', from: o.from } } };
    default:
      return malformed('call: unknown op');
  }
}
