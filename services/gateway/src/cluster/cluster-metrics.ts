import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** What the gateway's cluster side counts: joins across the bus, rooms served, members moved, bad messages. */
export class ClusterMetrics {
  readonly joins: Counter<'outcome'>;
  readonly joinSeconds: Histogram;
  readonly moved: Counter;
  readonly unrepairable: Counter;
  readonly ownersSilent: Counter;
  readonly malformed: Counter;
  readonly inputBatches: Counter;
  readonly outputMessages: Counter;
  readonly outputBytes: Counter;

  constructor(registry: Registry, roomsServed: () => number) {
    const registers = [registry];
    this.joins = new Counter({
      name: 'p3_gateway_cluster_joins_total',
      help: 'Joins through the bus, by outcome (joined, refused, unavailable)',
      labelNames: ['outcome'],
      registers,
    });
    this.joinSeconds = new Histogram({
      name: 'p3_gateway_cluster_join_seconds',
      help: 'From the join request to the welcome, across the bus (placement, claim and room load included)',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.moved = new Counter({
      name: 'p3_gateway_cluster_members_moved_total',
      help: 'Sockets closed with RoomMoved (owner changed, silent, or an unrepairable output gap) to resume',
      registers,
    });
    this.unrepairable = new Counter({
      name: 'p3_gateway_cluster_unrepairable_gaps_total',
      help: 'Room output gaps the frame buffer could not fill',
      registers,
    });
    this.ownersSilent = new Counter({
      name: 'p3_gateway_cluster_owners_silent_total',
      help: 'Simulators owning rooms served here that stopped pulsing (presumed dead: their members moved)',
      registers,
    });
    this.malformed = new Counter({
      name: 'p3_gateway_cluster_malformed_total',
      help: 'Bus messages to this gateway that did not decode',
      registers,
    });
    this.inputBatches = new Counter({
      name: 'p3_gateway_cluster_input_batches_total',
      help: 'Room input batches published (one per room per event-loop turn with input)',
      registers,
    });
    this.outputMessages = new Counter({
      name: 'p3_gateway_cluster_output_messages_total',
      help: 'Room output messages this gateway took in (from the bus or repaired from the frame buffer)',
      registers,
    });
    this.outputBytes = new Counter({
      name: 'p3_gateway_cluster_output_bytes_total',
      help: 'Payload bytes of the room output messages this gateway took in',
      registers,
    });
    new Gauge({
      name: 'p3_gateway_cluster_rooms_served',
      help: 'Rooms whose output this gateway is subscribed to (rooms with members here)',
      registers,
      collect() {
        this.set(roomsServed());
      },
    });
  }
}
