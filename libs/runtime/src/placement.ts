import type { RoomKey } from './ports/snapshot-store.js';

/**
 * Which live member should host a room, by rendezvous (highest random weight) hashing: every member gets a
 * pseudo-random weight for the room and the highest wins. Why rendezvous rather than modulo or a hash ring:
 * - rooms spread evenly without virtual nodes or any shared table: each member wins a room with the same chance;
 * - when a member joins, only the rooms it now wins move (to it); when one leaves, only its rooms move, each to its
 *   runner-up. Every other room keeps its owner, so a membership change fails over the fewest rooms;
 * - it is pure and deterministic across processes (no crypto, no process seed), so every gateway and simulator
 *   that sees the same member list agrees on the owner without talking.
 * Cost is one hash per member per lookup, fine for tens of simulators.
 *
 * Placement only proposes: the room lease decides who actually owns the room.
 *
 * @example
 * placeRoom({ tenant: 't', room: 'lobby' }, await membership.members()); // 'sim-2', or undefined when none
 */
export function placeRoom(key: RoomKey, members: readonly string[]): string | undefined {
  // Length prefixes keep the hashed text unambiguous: ('a:b', 'c') and ('a', 'b:c') hash different texts.
  const roomPart = `${key.tenant.length}:${key.tenant}${key.room.length}:${key.room}`;
  let best: string | undefined;
  let bestWeight = -1;
  for (const member of members) {
    const weight = hash53(`${member.length}:${member}${roomPart}`);
    // Ties are astronomically rare; the id breaks them so the answer never depends on the list's order.
    if (weight > bestWeight || (weight === bestWeight && best !== undefined && member > best)) {
      best = member;
      bestWeight = weight;
    }
  }
  return best;
}

/**
 * A 53-bit non-cryptographic hash of the UTF-16 code units: two 32-bit multiply-xor lanes, each finished with the
 * murmur3 avalanche and crossed into the other so every input bit reaches every output bit. 53 bits fit a double
 * exactly, so weights compare as plain numbers; Math.imul keeps it fast (no BigInt).
 */
function hash53(text: string): number {
  let a = 0x9e3779b9;
  let b = 0x85ebca6b;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    a = Math.imul(a ^ unit, 0x01000193);
    b = Math.imul(b ^ unit, 0x5bd1e995);
    b ^= b >>> 15;
  }
  a ^= text.length;
  a = fmix32(a ^ Math.imul(b, 0xcc9e2d51));
  b = fmix32(b ^ Math.imul(a, 0x1b873593));
  a = fmix32(a ^ b);
  return (b & 0x1fffff) * 0x100000000 + (a >>> 0);
}

/** The murmur3 finaliser: spreads each input bit over the whole word. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}
