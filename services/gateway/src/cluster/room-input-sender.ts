import { encodeRoomInputBatch, roomInput, type Bus, type RoomInputItem, type RoomKey } from '@p3/runtime';
import type { Logger } from 'pino';
import type { ClusterMetrics } from './cluster-metrics.js';

/**
 * A gateway's input to one room: items queued during an event-loop turn leave as one batch on `roomInput(key)`,
 * and now and then with the roster of the attachments held here (RoomInputBatch.roster), so the owner can end
 * sessions whose `leave` the bus lost. Used by world and document links alike.
 */
export class RoomInputSender {
  private items: RoomInputItem[] = [];
  private scheduled = false;
  private rosterDue = false;

  constructor(
    private readonly options: {
      readonly key: RoomKey;
      readonly gatewayId: string;
      readonly bus: Bus;
      readonly metrics: ClusterMetrics;
      readonly logger: Logger;
      /** The attachments this gateway holds in the room now (joins in flight included). */
      readonly roster: () => readonly string[];
    },
  ) {}

  queue(item: RoomInputItem): void {
    this.items.push(item);
    if (this.scheduled) return;
    this.scheduled = true;
    // After the I/O phase, not the microtask: the messages uWS hands over in one poll of the sockets travel in one
    // bus message (a microtask would flush after each one).
    setImmediate(() => this.flush());
  }

  /** Sends the roster now, with whatever is queued. */
  sendRoster(): void {
    this.rosterDue = true;
    this.flush();
  }

  flush(): void {
    this.scheduled = false;
    if (this.items.length === 0 && !this.rosterDue) return;
    const items = this.items;
    this.items = [];
    const roster = this.rosterDue ? this.options.roster() : undefined;
    this.rosterDue = false;
    const { bus, key, gatewayId, metrics, logger } = this.options;
    try {
      bus.publish(
        roomInput(key),
        encodeRoomInputBatch({ gateway: gatewayId, items, ...(roster === undefined ? {} : { roster }) }),
      );
      metrics.inputBatches.inc();
    } catch (error) {
      logger.warn({ err: error, room: key.room }, 'room input publish failed');
    }
  }
}
