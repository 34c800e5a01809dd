import {
  BusError,
  BusErrorCode,
  busPrefix,
  wireSubject,
  type Bus,
  type BusOptions,
  type BusSubject,
  type BusSubscription,
} from '../ports/bus.js';

/** NATS' default `max_payload`, so code that fits in memory also fits on a default server. */
const defaultMaxPayload = 1024 * 1024;

type Delivery = (payload: Uint8Array) => void;

/**
 * The in-process stand-in for a NATS server: several {@link MemoryBus} instances given the same broker talk to each
 * other like processes sharing one server, and buses on different brokers never meet.
 */
export class MemoryBroker {
  private readonly interest = new Map<string, Set<Delivery>>();

  /** @internal Registers one subscription; returns its removal. */
  add(subject: string, delivery: Delivery): () => void {
    let deliveries = this.interest.get(subject);
    if (deliveries === undefined) {
      deliveries = new Set();
      this.interest.set(subject, deliveries);
    }
    deliveries.add(delivery);
    return () => {
      deliveries.delete(delivery);
      if (deliveries.size === 0 && this.interest.get(subject) === deliveries) this.interest.delete(subject);
    };
  }

  /** @internal Hands `payload` to every subscription of `subject` at the time of the call. */
  route(subject: string, payload: Uint8Array): void {
    const deliveries = this.interest.get(subject);
    if (deliveries === undefined) return;
    // A copy taken now, as the network would: the publisher may reuse its buffer as soon as publish returns.
    // `new Uint8Array(view)` copies; `slice()` would not on a Node Buffer (its slice is a view).
    const sent = new Uint8Array(payload);
    for (const delivery of deliveries) queueMicrotask(() => delivery(new Uint8Array(sent)));
  }

  /** Number of subjects with at least one subscription (tests check that unsubscribing leaves nothing behind). */
  get subjectCount(): number {
    return this.interest.size;
  }
}

export interface MemoryBusOptions extends BusOptions {
  /** Shared with the buses this one talks to; a fresh, private broker by default. */
  readonly broker?: MemoryBroker;
  /** Default 1 MiB, like NATS. */
  readonly maxPayload?: number;
}

/**
 * A {@link Bus} in one process, for tests and single-process mode. Delivery is asynchronous (one microtask per
 * message), like the network, so code that assumes a handler ran inside `publish` fails here as it would on NATS.
 * `flush()` resolves after every message published before it was delivered (stronger than NATS, which promises
 * only that the server has them).
 *
 * @example
 * const broker = new MemoryBroker();
 * const gateway = new MemoryBus({ broker }), simulator = new MemoryBus({ broker });
 * gateway.subscribe(roomOutput(key), onFrame);
 * simulator.publish(roomOutput(key), frameBytes);
 */
export class MemoryBus implements Bus {
  readonly broker: MemoryBroker;
  readonly maxPayload: number;
  private readonly prefix: string;
  private readonly options: MemoryBusOptions;
  private readonly removals = new Set<() => void>();
  private closed = false;

  constructor(options: MemoryBusOptions = {}) {
    this.prefix = busPrefix(options);
    this.broker = options.broker ?? new MemoryBroker();
    this.maxPayload = options.maxPayload ?? defaultMaxPayload;
    this.options = options;
  }

  publish(subject: BusSubject, payload: Uint8Array): void {
    this.assertOpen('publish');
    if (payload.byteLength > this.maxPayload)
      throw new BusError(
        BusErrorCode.PayloadTooLarge,
        `payload of ${payload.byteLength} bytes exceeds the bus limit of ${this.maxPayload}`,
      );
    this.broker.route(wireSubject(this.prefix, subject), payload);
  }

  subscribe(subject: BusSubject, handler: (payload: Uint8Array) => void): BusSubscription {
    this.assertOpen('subscribe');
    let active = true;
    const remove = this.broker.add(wireSubject(this.prefix, subject), (payload) => {
      // Messages already queued when the subscription ended must not reach the handler.
      if (!active) return;
      try {
        handler(payload);
      } catch (error) {
        this.options.logger?.error({ err: error, subject }, 'bus: subscription handler threw');
      }
    });
    const unsubscribe = (): void => {
      active = false;
      remove();
      this.removals.delete(unsubscribe);
    };
    this.removals.add(unsubscribe);
    return { unsubscribe };
  }

  async flush(): Promise<void> {
    this.assertOpen('flush');
    // Microtasks run in order: this one runs after every delivery queued before it.
    await new Promise<void>((resolve) => queueMicrotask(resolve));
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const unsubscribe of [...this.removals]) unsubscribe();
  }

  private assertOpen(operation: string): void {
    if (this.closed) throw new BusError(BusErrorCode.Closed, `bus ${operation} after close`);
  }
}
