import { connect, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node';
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

export interface NatsBusOptions extends BusOptions {
  /** A connection the caller owns: `close()` leaves it open (it may carry JetStream or KV too). */
  readonly connection: NatsConnection;
}

export interface NatsBusConnectOptions extends BusOptions {
  /** Passed to `connect` of `@nats-io/transport-node`; the bus owns the connection and closes it. */
  readonly connection: NodeConnectionOptions;
}

/**
 * A {@link Bus} on core NATS: one NATS subscription per `subscribe`, plain `PUB` per `publish`.
 *
 * nats.js queues the caller's `Uint8Array` itself until the next write and hands handlers views of its read
 * buffer, so the bus copies on both sides to keep the port's "bytes unchanged" promise.
 *
 * @example
 * const bus = await NatsBus.connect({ connection: { servers: 'nats://127.0.0.1:4222' }, prefix: 'p3' });
 * const shared = new NatsBus({ connection: nc }); // nc stays open after bus.close()
 */
export class NatsBus implements Bus {
  private readonly connection: NatsConnection;
  // Set only by `connect`, which opened the connection.
  private ownsConnection = false;
  private readonly prefix: string;
  private readonly options: BusOptions;
  private readonly subscriptions = new Set<{ stop(): void }>();
  private closed = false;

  constructor(options: NatsBusOptions) {
    this.prefix = busPrefix(options);
    this.connection = options.connection;
    this.options = options;
  }

  /** Connects and returns a bus that owns its connection. */
  static async connect(options: NatsBusConnectOptions): Promise<NatsBus> {
    // Validate before opening a socket so a bad prefix leaks nothing.
    busPrefix(options);
    let connection: NatsConnection;
    try {
      connection = await connect(options.connection);
    } catch (error) {
      throw new BusError(BusErrorCode.Transport, `cannot connect to NATS: ${(error as Error).message}`, {
        cause: error,
      });
    }
    const bus = new NatsBus({ ...options, connection });
    bus.ownsConnection = true;
    return bus;
  }

  /** The server's `max_payload`, learnt at connect (1 MiB on a default server). */
  get maxPayload(): number {
    return this.connection.info?.max_payload ?? 1024 * 1024;
  }

  publish(subject: BusSubject, payload: Uint8Array): void {
    this.assertOpen('publish');
    if (payload.byteLength > this.maxPayload)
      throw new BusError(
        BusErrorCode.PayloadTooLarge,
        `payload of ${payload.byteLength} bytes exceeds the server limit of ${this.maxPayload}`,
      );
    try {
      // nats.js keeps a reference to `payload` until its next socket write: copy, or a reused buffer is sent.
      this.connection.publish(wireSubject(this.prefix, subject), new Uint8Array(payload));
    } catch (error) {
      throw transportError('publish', error);
    }
  }

  subscribe(subject: BusSubject, handler: (payload: Uint8Array) => void): BusSubscription {
    this.assertOpen('subscribe');
    let active = true;
    const natsSubscription = (() => {
      try {
        return this.connection.subscribe(wireSubject(this.prefix, subject), {
          callback: (error, message) => {
            if (!active) return;
            if (error !== null) {
              this.options.logger?.error({ err: error, subject }, 'bus: subscription failed');
              return;
            }
            try {
              // `message.data` is a Buffer view of the parser's read buffer. `new Uint8Array(view)` copies into a
              // plain Uint8Array; `Buffer#slice` would return another view of the same memory.
              handler(new Uint8Array(message.data));
            } catch (handlerError) {
              // A throw here would unwind into the nats.js parser and break the connection for every subscriber.
              this.options.logger?.error({ err: handlerError, subject }, 'bus: subscription handler threw');
            }
          },
        });
      } catch (error) {
        throw transportError('subscribe', error);
      }
    })();
    const entry = {
      stop: (): void => {
        if (!active) return;
        active = false;
        this.subscriptions.delete(entry);
        // Unsubscribing a closed connection throws; there is nothing left to stop then.
        if (!this.connection.isClosed()) natsSubscription.unsubscribe();
      },
    };
    this.subscriptions.add(entry);
    return { unsubscribe: entry.stop };
  }

  async flush(): Promise<void> {
    this.assertOpen('flush');
    try {
      await this.connection.flush();
    } catch (error) {
      throw transportError('flush', error);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const subscription of [...this.subscriptions]) subscription.stop();
    if (this.connection.isClosed()) return;
    try {
      // Both send what was published before close; drain also closes the connection we own.
      if (this.ownsConnection) await this.connection.drain();
      else await this.connection.flush();
    } catch (error) {
      // A connection that died meanwhile has nothing left to send; any other failure is the caller's to see.
      if (!this.connection.isClosed()) throw transportError('close', error);
    }
  }

  private assertOpen(operation: string): void {
    if (this.closed) throw new BusError(BusErrorCode.Closed, `bus ${operation} after close`);
  }
}

function transportError(operation: string, error: unknown): BusError {
  const reason = error instanceof Error ? error.message : String(error);
  return new BusError(BusErrorCode.Transport, `bus ${operation} failed: ${reason}`, { cause: error });
}
