import type { Logger } from 'pino';
import type { RoomKey } from './snapshot-store.js';
import { encodeIdToken } from '../id-token.js';

declare const busSubjectBrand: unique symbol;

/**
 * A bus address without the deployment prefix, built only by {@link roomInput}, {@link roomOutput},
 * {@link gatewayInbox} and {@link control}. Branded so a call site cannot concatenate one by hand (and forget to
 * encode an id); a bus prepends its own prefix when it talks to the transport.
 */
export type BusSubject = string & { readonly [busSubjectBrand]: 'BusSubject' };

/** The handle of one subscription. `unsubscribe()` is idempotent; no handler call happens after it returns. */
export interface BusSubscription {
  unsubscribe(): void;
}

/**
 * Moves opaque bytes between the processes of the cluster (gateways, simulators, control plane).
 *
 * Guarantees every implementation keeps (checked by `describeBusContract`):
 * - **at-most-once**: a message is delivered once or not at all (core NATS has no redelivery). Gaps are detected
 *   above the bus, with the `{epoch, seq}` every room message carries;
 * - **per-publisher order**: messages one bus publishes to one subject reach each subscriber in publish order;
 *   nothing is promised between two publishers;
 * - **interest only**: a bus receives messages only for the exact subjects it subscribes to (no wildcards), so a
 *   gateway gets no traffic for rooms it does not serve;
 * - **effective after flush**: a subscription receives every message published after `flush()` of the subscribing
 *   bus resolved (earlier ones may be missed: the interest travels to the server asynchronously);
 * - **bytes unchanged**: each handler call gets its own copy of the published bytes (empty payloads included), so
 *   neither the publisher reusing its buffer nor another handler mutating its copy changes what a handler sees;
 * - **asynchronous delivery**: handlers never run inside `publish`;
 * - **isolated handlers**: a handler that throws is logged and the bus keeps delivering, to it and to others;
 * - **closed is closed**: after `close()` is called no handler of that bus runs, and `publish`, `subscribe` and
 *   `flush` fail with {@link BusErrorCode.Closed}.
 *
 * @example
 * const sub = bus.subscribe(roomOutput(key), (bytes) => fanOut(key, bytes));
 * await bus.flush(); // the subscription is live
 * bus.publish(roomInput(key), encodedOps);
 */
export interface Bus {
  /** The largest payload `publish` accepts, in bytes (the server's `max_payload` for NATS). */
  readonly maxPayload: number;
  /**
   * Queues `payload` for every current subscriber of `subject`. Never blocks and never awaits delivery; throws a
   * {@link BusError} when the bus is closed or the payload is larger than {@link Bus.maxPayload}.
   */
  publish(subject: BusSubject, payload: Uint8Array): void;
  subscribe(subject: BusSubject, handler: (payload: Uint8Array) => void): BusSubscription;
  /**
   * Resolves once the transport has taken everything this bus published and every subscription it made (a round
   * trip to the NATS server). It does not wait for other buses to receive the messages.
   */
  flush(): Promise<void>;
  /** Stops every subscription of this bus, sends what it published, and releases the connection it owns. */
  close(): Promise<void>;
}

/** Options every adapter accepts. */
export interface BusOptions {
  /**
   * First token of every subject, so deployments and test runs sharing a server never see each other's traffic.
   * One NATS token of `[A-Za-z0-9_-]`, at most 64 characters. Default `p3`.
   */
  readonly prefix?: string;
  /** Where a throwing handler is reported (the bus swallows the error to keep delivering). */
  readonly logger?: Pick<Logger, 'error'>;
}

export const BusErrorCode = {
  /** The bus was closed: a programming error in the caller's shutdown order. */
  Closed: 'BUS_CLOSED',
  /** The payload exceeds `maxPayload`; the caller should split it or refuse it upstream. */
  PayloadTooLarge: 'BUS_PAYLOAD_TOO_LARGE',
  /** An id is so long its subject would exceed the server's control-line limit. */
  SubjectTooLong: 'BUS_SUBJECT_TOO_LONG',
  /** The configured prefix is not one plain NATS token. */
  InvalidPrefix: 'BUS_INVALID_PREFIX',
  /** The transport refused the operation (connection lost, permission denied); see `cause`. */
  Transport: 'BUS_TRANSPORT',
} as const;
export type BusErrorCode = (typeof BusErrorCode)[keyof typeof BusErrorCode];

/** A failure of a bus operation. Branch on `code`. */
export class BusError extends Error {
  override readonly name = 'BusError';
  constructor(
    readonly code: BusErrorCode,
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
  }
}

/** NATS' default control line is 4 KiB; this leaves room for the prefix and the `PUB`/`MSG` framing. */
export const maxSubjectLength = 2048;
const defaultPrefix = 'p3';
const prefixPattern = /^[A-Za-z0-9_-]{1,64}$/;

// Each kind has its own token count (4, 2 and 1) or first token (`gateway`, `simulator`: an encoded tenant never
// stands alone as a 2-token subject), so no subject of one kind can equal one of another.
function subject(...tokens: readonly string[]): BusSubject {
  const joined = tokens.join('.');
  if (joined.length > maxSubjectLength)
    throw new BusError(BusErrorCode.SubjectTooLong, `bus subject longer than ${maxSubjectLength} characters`);
  return joined as BusSubject;
}

/** Gateway -> the simulator that owns the room: client ops and document changes. `<tenant>.room.<room>.in` */
export function roomInput(key: RoomKey): BusSubject {
  return subject(encodeIdToken(key.tenant), 'room', encodeIdToken(key.room), 'in');
}

/** Owning simulator -> every gateway with members in the room: frames and corrections. `<tenant>.room.<room>.out` */
export function roomOutput(key: RoomKey): BusSubject {
  return subject(encodeIdToken(key.tenant), 'room', encodeIdToken(key.room), 'out');
}

/** Unicast replies to one gateway (join results, errors for one attachment). `gateway.<id>` */
export function gatewayInbox(gatewayId: string): BusSubject {
  return subject('gateway', encodeIdToken(gatewayId));
}

/** Requests to one simulator (joins: the room may not be open anywhere yet). `simulator.<id>` */
export function simulatorInbox(simulatorId: string): BusSubject {
  return subject('simulator', encodeIdToken(simulatorId));
}

/**
 * A simulator's pulse, a few times a second, to the gateways serving its rooms: a kill -9 shows as its stopping,
 * well before membership or a lease expires. `simulator.<id>.alive`
 */
export function simulatorAlive(simulatorId: string): BusSubject {
  return subject('simulator', encodeIdToken(simulatorId), 'alive');
}

/**
 * A process's message to itself through the bus: hearing its own echo tells a gateway the bus works, so silence
 * from others is theirs. `echo.<id>`
 */
export function busEcho(processId: string): BusSubject {
  return subject('echo', encodeIdToken(processId));
}

/** Cluster-wide control: API key revocation, drains. `control` */
export function control(): BusSubject {
  return subject('control');
}

/** The subject on the wire: the validated prefix, then the bus subject. For adapters. */
export function wireSubject(prefix: string, busSubject: BusSubject): string {
  return `${prefix}.${busSubject}`;
}

/** Validates `options.prefix` (throws {@link BusErrorCode.InvalidPrefix}) and returns it or the default. For adapters. */
export function busPrefix(options: BusOptions): string {
  const prefix = options.prefix ?? defaultPrefix;
  if (!prefixPattern.test(prefix))
    throw new BusError(
      BusErrorCode.InvalidPrefix,
      `bus prefix must be one token of [A-Za-z0-9_-], 1 to 64 characters: ${JSON.stringify(prefix)}`,
    );
  return prefix;
}
