import { systemClock, type Clock } from '../ports/clock.js';
import type { Presence, PresenceMember } from '../ports/presence.js';
import type { RoomKey } from '../ports/snapshot-store.js';

interface GatewayLife {
  /** A new generation starts whenever a gateway becomes live; entries of older generations are dead for good. */
  readonly generation: number;
  deadline: number;
  /** Per room, how many of this generation's members are in it (for `roomsOf` without a scan). */
  readonly rooms: Map<string, { readonly key: RoomKey; count: number }>;
}

interface Entry {
  readonly member: PresenceMember;
  /** The gateway's generation at `enter`; 0 (never a live generation) when the gateway was not live. */
  readonly generation: number;
}

/**
 * The state several `MemoryPresence` instances share, the way gateways share one Redis. Time comes from the
 * injected clock so tests let a TTL pass without sleeping.
 */
export class MemoryPresenceStore {
  readonly gateways = new Map<string, GatewayLife>();
  readonly rooms = new Map<string, { readonly key: RoomKey; readonly entries: Map<string, Entry> }>();
  private lastGeneration = 0;

  constructor(readonly clock: Clock = systemClock) {}

  /** The gateway's current life, or undefined when it is not live. */
  liveGateway(gatewayId: string): GatewayLife | undefined {
    const life = this.gateways.get(gatewayId);
    return life !== undefined && life.deadline > this.clock.now() ? life : undefined;
  }

  nextGeneration(): number {
    return ++this.lastGeneration;
  }
}

/**
 * Presence in process memory (single-process mode, tests). Mirrors the Redis adapter's mechanism (generations
 * per gateway life, lazy removal of dead entries) so both pass the same contract for the same reasons.
 */
export class MemoryPresence implements Presence {
  constructor(private readonly store: MemoryPresenceStore = new MemoryPresenceStore()) {}

  async enter(key: RoomKey, member: PresenceMember): Promise<void> {
    const id = roomId(key);
    let room = this.store.rooms.get(id);
    if (room === undefined) {
      room = { key: { tenant: key.tenant, room: key.room }, entries: new Map() };
      this.store.rooms.set(id, room);
    }
    const previous = room.entries.get(member.attachmentId);
    if (previous !== undefined) this.release(id, previous);
    const life = this.store.liveGateway(member.gatewayId);
    room.entries.set(member.attachmentId, {
      member: { attachmentId: member.attachmentId, clientId: member.clientId, gatewayId: member.gatewayId },
      generation: life?.generation ?? 0,
    });
    if (life === undefined) return;
    const counted = life.rooms.get(id);
    if (counted === undefined) life.rooms.set(id, { key: room.key, count: 1 });
    else counted.count += 1;
  }

  async exit(key: RoomKey, attachmentId: string): Promise<void> {
    const id = roomId(key);
    const room = this.store.rooms.get(id);
    const entry = room?.entries.get(attachmentId);
    if (room === undefined || entry === undefined) return;
    room.entries.delete(attachmentId);
    this.release(id, entry);
    if (room.entries.size === 0) this.store.rooms.delete(id);
  }

  async heartbeat(gatewayId: string, ttlMs: number): Promise<boolean> {
    const deadline = this.store.clock.now() + ttlMs;
    const life = this.store.liveGateway(gatewayId);
    if (life !== undefined) {
      life.deadline = deadline;
      return true;
    }
    this.store.gateways.set(gatewayId, {
      generation: this.store.nextGeneration(),
      deadline,
      rooms: new Map(),
    });
    return false;
  }

  async members(key: RoomKey): Promise<PresenceMember[]> {
    return this.liveEntries(key).map((entry) => entry.member);
  }

  async count(key: RoomKey): Promise<number> {
    return this.liveEntries(key).length;
  }

  async roomsOf(gatewayId: string): Promise<RoomKey[]> {
    const life = this.store.liveGateway(gatewayId);
    return life === undefined ? [] : [...life.rooms.values()].map((room) => room.key);
  }

  async close(): Promise<void> {}

  /** Lists the room's live entries and forgets the dead ones, so memory stays bounded by what is read. */
  private liveEntries(key: RoomKey): Entry[] {
    const id = roomId(key);
    const room = this.store.rooms.get(id);
    if (room === undefined) return [];
    const live: Entry[] = [];
    for (const [attachmentId, entry] of room.entries) {
      if (this.store.liveGateway(entry.member.gatewayId)?.generation === entry.generation) live.push(entry);
      else room.entries.delete(attachmentId);
    }
    if (room.entries.size === 0) this.store.rooms.delete(id);
    return live;
  }

  /** Uncounts an entry that leaves its room, when it was counted in its gateway's current life. */
  private release(id: string, entry: Entry): void {
    const life = this.store.liveGateway(entry.member.gatewayId);
    if (life === undefined || life.generation !== entry.generation) return;
    const counted = life.rooms.get(id);
    if (counted === undefined) return;
    counted.count -= 1;
    if (counted.count <= 0) life.rooms.delete(id);
  }
}

/** JSON of the pair is injective, so distinct tenants and rooms never collide whatever characters they hold. */
const roomId = (key: RoomKey): string => JSON.stringify([key.tenant, key.room]);
