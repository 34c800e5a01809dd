import { schema, t, type SchemaType } from '@colyseus/schema';

/**
 * The bench world for Colyseus, the same as the P3 one (arena-schema.ts): one player per client with `x`, `y`
 * (0..1000, as `number`: Colyseus picks the encoding per value) and `t`, the sender's `performance.now()` at
 * send time as an exact float64. Shared by the server room and the clients (as a TypeScript user sharing their
 * schema would; the SDK could also rebuild it by reflection).
 */
export const ArenaPlayer = schema({ x: t.number(), y: t.number(), t: t.float64() }, 'ArenaPlayer');
export type ArenaPlayer = SchemaType<typeof ArenaPlayer>;

/** The room state: players by session id. */
export const ArenaState = schema({ players: t.map(ArenaPlayer) }, 'ArenaState');
export type ArenaState = SchemaType<typeof ArenaState>;

/** The room's one message type: a client moves its own player. */
export const MOVE_MESSAGE = 'move';

/** The payload of a move message. */
export interface MoveMessage {
  x: number;
  y: number;
  t: number;
}

/** Name the room type is defined under. */
export const COLYSEUS_ROOM = 'arena';
