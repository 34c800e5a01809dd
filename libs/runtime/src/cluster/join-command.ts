import type { Principal } from '../room-service.js';
import type { RoomKey } from '../ports/snapshot-store.js';
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

/**
 * A gateway asks a simulator (on `simulatorInbox(id)`) to join one client to a room. The answer comes on the
 * gateway's inbox (`joined`, `refused`, `elsewhere`), and the welcome itself in the room's output, addressed to
 * `attachment`: in that stream it is ordered with the frames, so the gateway misses none between the two.
 */
export interface JoinCommand {
  /** Matches the reply to the request (unique per gateway). */
  readonly id: string;
  /** The gateway's id: its inbox gets the reply and any `detached` notice. */
  readonly gateway: string;
  /**
   * Names this one socket's attachment to the room, unique across the cluster (the gateway's id and a counter).
   * Inputs and the leave carry it, so a late leave of an old socket never detaches the client's newer one.
   */
  readonly attachment: string;
  readonly key: RoomKey;
  readonly clientId: string;
  readonly sessionStamp: number;
  readonly resumeFrame?: number;
  readonly principal?: Principal;
  /**
   * A document room's socket (ecs-sync, seed 003) rather than a world member: `key.room` is `doc/<scoped id>`,
   * there is no welcome (the client speaks first), and output to the attachment is the room's JSON text as is.
   */
  readonly document?: boolean;
  /** Simulators this gateway heard go silent (see AcquireOptions.avoid); at most 16. */
  readonly avoid?: readonly string[];
}

export function encodeJoinCommand(command: JoinCommand): Uint8Array {
  const { key, principal, ...rest } = command;
  return encodeWire({
    v: CLUSTER_WIRE_VERSION,
    ...rest,
    ...roomFields(key, principal),
  });
}

export function decodeJoinCommand(bytes: Uint8Array): WireDecodeResult<JoinCommand> {
  const parsed = decodeWireObject(bytes);
  if (!parsed.ok) return parsed;
  const o = parsed.value;
  if (!isText(o.id, 128) || !isText(o.gateway, 256) || !isText(o.attachment, 512))
    return malformed('join: id, gateway and attachment must be short non-empty strings');
  if (!isText(o.tenant) || !isText(o.room))
    return malformed('join: tenant and room must be non-empty strings');
  if (!isText(o.clientId, 256)) return malformed('join: clientId must be a non-empty string');
  if (!isCount(o.sessionStamp)) return malformed('join: sessionStamp must be a non-negative integer');
  if (o.resumeFrame !== undefined && !isCount(o.resumeFrame))
    return malformed('join: resumeFrame must be a non-negative integer');
  if (o.document !== undefined && o.document !== true)
    return malformed('join: document must be true when given');
  if (
    o.avoid !== undefined &&
    !(Array.isArray(o.avoid) && o.avoid.length <= 16 && o.avoid.every((member) => isText(member, 256)))
  )
    return malformed('join: avoid must be at most 16 member ids');
  const hasUser = o.user !== undefined;
  if (hasUser && (typeof o.user !== 'string' || typeof o.team !== 'string'))
    return malformed('join: user and team must be strings');
  return {
    ok: true,
    value: {
      id: o.id,
      gateway: o.gateway,
      attachment: o.attachment,
      key: { tenant: o.tenant, room: o.room },
      clientId: o.clientId,
      sessionStamp: o.sessionStamp,
      ...(o.resumeFrame === undefined ? {} : { resumeFrame: o.resumeFrame as number }),
      ...(hasUser ? { principal: { user: o.user as string, team: o.team as string } } : {}),
      ...(o.document === true ? { document: true } : {}),
      ...(o.avoid === undefined ? {} : { avoid: o.avoid as string[] }),
    },
  };
}
