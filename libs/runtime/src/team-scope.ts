import type { Principal } from './room-service.js';
import type { RoomKey } from './ports/snapshot-store.js';

/**
 * Room names are scoped by team: an authenticated principal's room `arena` is kept as `<team>/arena` (the team
 * URI-encoded), so two teams naming the same room never share, see or block each other's state. Names clients
 * choose never hold `/` (the protocol's room and room-id patterns refuse it), so a scoped name cannot collide
 * with an unscoped one, nor two scoped ones with each other. Without a principal (no authentication) or with an
 * empty team, names are not scoped.
 *
 * @example
 * scopedRoomName('arena', { user: 'ann', team: 'blue' }); // 'blue/arena'
 * unscopedRoomName('blue/arena'); // 'arena'
 */
export function scopedRoomName(name: string, principal: Principal | undefined): string {
  const team = principal?.team;
  return team === undefined || team === '' ? name : `${encodeURIComponent(team)}/${name}`;
}

/** The key of a client's room `name` (see scopedRoomName). */
export function scopedRoomKey(tenant: string, name: string, principal: Principal | undefined): RoomKey {
  return { tenant, room: scopedRoomName(name, principal) };
}

/** The name a client used for a room: the part after the team's scope. */
export function unscopedRoomName(room: string): string {
  return room.slice(room.lastIndexOf('/') + 1);
}

/**
 * The team and the unscoped key of a scoped key (`{room: 'blue/arena'}` → team `blue`, `{room: 'arena'}`): where
 * a room lived before rooms were scoped, owned by its first team (snapshots then recorded that team).
 * Undefined for a key that is not scoped.
 */
export function legacyRoomOf(key: RoomKey): { readonly team: string; readonly key: RoomKey } | undefined {
  const slash = key.room.lastIndexOf('/');
  if (slash <= 0) return undefined;
  let team: string;
  try {
    team = decodeURIComponent(key.room.slice(0, slash));
  } catch {
    return undefined;
  }
  return { team, key: { tenant: key.tenant, room: key.room.slice(slash + 1) } };
}
