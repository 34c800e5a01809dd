import { EventEmitter } from 'node:events';
import type { EntityUpdate } from '@p3/protocol';
import type { Entity } from '@p3/engine';
import type { MemberInfo, TickedRoom } from '@p3/runtime';

export interface P3ConnectionEvents {
  /** An entity this connection created appeared in a frame. */
  entityCreated: [entity: EntityUpdate];
}

/** One client connection to one instance, as server code sees it (seed 000: `connection.getEntities()`, `on('entityCreated')`). */
export class P3Connection extends EventEmitter<P3ConnectionEvents> {
  readonly id: string;
  readonly clientId: string;
  readonly instanceId: string;
  readonly user: string | undefined;

  constructor(
    private readonly room: TickedRoom,
    member: MemberInfo,
  ) {
    super();
    this.id = member.connectionId;
    this.clientId = member.clientId;
    this.instanceId = room.key.room;
    this.user = member.principal?.user;
  }

  /** True while the client is attached (false during its resume grace and after it left). */
  get connected(): boolean {
    return this.room.getMember(this.id)?.attached === true;
  }

  /** Entities this connection owns, live views into the world. */
  getEntities(): Entity[] {
    const world = this.room.world;
    return world.entitiesOf(this.id).flatMap((id) => world.entity(id) ?? []);
  }
}
