import type { RoomKey } from './snapshot-store.js';

/**
 * One attachment of a client to a room: a (gateway, socket) pair with its own id. A client connected through two
 * gateways (or twice through one) is two members, so counts are attachments, not people.
 */
export interface PresenceMember {
  readonly attachmentId: string;
  readonly clientId: string;
  readonly gatewayId: string;
}

/**
 * Who is in which room, on which gateway, across all gateways of the cluster.
 *
 * Liveness is per gateway, not per member: one `heartbeat(gatewayId, ttlMs)` keeps every member that gateway
 * entered alive, so a gateway with 10,000 sockets sends one heartbeat, not 10,000. Guarantees every
 * implementation keeps (checked by `test/presence.contract.ts`):
 * - a member is listed from its `enter` (made while its gateway is live) until its `exit`, or until its
 *   gateway's liveness lapses (`ttlMs` after the gateway's last heartbeat, by the store's clock);
 * - when a gateway dies (stops heartbeating) all of its members disappear from every room within one TTL, with
 *   no one cleaning up; members of other gateways are untouched;
 * - a lapse is final: a gateway that heartbeats again after its TTL ran out comes back with no members (its old
 *   ones never reappear, even the ones it could not exit while it was stalled); `heartbeat` resolves false to say
 *   so, and the gateway re-enters the members it still holds. An `enter` made while the gateway is not live is
 *   dropped the same way, which is why a gateway heartbeats before its first `enter`;
 * - `enter` of an attachment already present replaces it (idempotent); `exit` of an unknown attachment is a
 *   no-op;
 * - rooms (and tenants) are independent whatever characters their ids contain.
 *
 * @example
 * if (!(await presence.heartbeat('gw-1', 3_000))) await reenterAll(); // every second
 * await presence.enter({ tenant: 'default', room: 'lobby' }, { attachmentId, clientId, gatewayId: 'gw-1' });
 * const online = await presence.count({ tenant: 'default', room: 'lobby' });
 */
export interface Presence {
  /** Adds the attachment to the room (or replaces it when it is already there). */
  enter(key: RoomKey, member: PresenceMember): Promise<void>;
  /** Removes the attachment from the room; unknown attachments are ignored. */
  exit(key: RoomKey, attachmentId: string): Promise<void>;
  /**
   * Keeps all of the gateway's members alive for `ttlMs` from now. Resolves true when the gateway was live, false
   * when it was not (first heartbeat, or it lapsed): it is live from now on but has no members.
   */
  heartbeat(gatewayId: string, ttlMs: number): Promise<boolean>;
  /** The live members of the room, in no particular order. */
  members(key: RoomKey): Promise<PresenceMember[]>;
  /** The number of live members of the room (what `members` would list), without transferring them. */
  count(key: RoomKey): Promise<number>;
  /** The rooms where the gateway has live members ([] when the gateway is not live), in no particular order. */
  roomsOf(gatewayId: string): Promise<RoomKey[]>;
  /** Stops using the store. Connections passed in by the caller stay the caller's to close. */
  close(): Promise<void>;
}
