import type { WorldDefinition } from '@p3/engine';
import { messageLimits } from '@p3/protocol';
import type { MonotonicClock } from './clock-sync.js';
import type { OfflineStore } from './offline-store.js';
import type { InputDelay } from './stamp-estimator.js';
import type { WebSocketConstructor } from './transport.js';

export interface P3ClientOptions {
  /** Gateway host name or address. */
  readonly host: string;
  /** Gateway port; omitted: the scheme's default port. */
  readonly port?: number;
  /**
   * Other gateways of the same cluster (same scheme and path). A reconnect dials the next address after the one
   * that dropped, so the clients of a gateway that died come back through the others. Default none.
   */
  readonly fallbacks?: ReadonlyArray<{ readonly host: string; readonly port?: number }>;
  /**
   * At most this many op batches (and idle `cover` messages) per second. Default 20. A cap, not a delay: an op made
   * on an idle link goes out at once (with whatever else was written in the same turn).
   */
  readonly sendRate?: number;
  /** The room (world instance) to join. Numbers are sent as their decimal string. */
  readonly instanceId: string | number;
  /** Credential passed in `join` (e.g. a short-lived JWT minted by your backend). */
  readonly token?: string;
  /** `wss:` instead of `ws:`. Default false. */
  readonly secure?: boolean;
  /** Default `/v1/connect`. */
  readonly path?: string;
  /** Wire codec, negotiated as a WebSocket subprotocol. Default `binary` (compact); `json` is debuggable. */
  readonly codec?: 'binary' | 'json';
  /** WebSocket-compatible constructor. Default `globalThis.WebSocket`, else the `ws` package (Node). */
  readonly transport?: WebSocketConstructor;
  /** The room's world definition: enables engine-based prediction (`getFrame(+x)` runs the same tick logic). */
  readonly world?: WorldDefinition;
  /**
   * Which frame an op applies at. `'arrival'` (default): the first frame the room simulates after the op arrives;
   * ops travel unstamped and the room places them, so none is late or held (the client estimates that frame for
   * its predictions). `'auto'`: the client stamps that frame itself, from clock sync, the round trip and a margin
   * learnt from late ops (an op that comes late is corrected; one that comes early waits for its frame). A number:
   * that many frames after the estimated server frame (a fixed input delay, the same for every player).
   */
  readonly inputDelayFrames?: number | 'auto' | 'arrival';
  /** Stable identity of this client (scopes sequence numbers, resumes sessions). Default random (or the persisted one). */
  readonly clientId?: string;
  /** Persists the offline queue (ops not acknowledged yet) so a reload resumes and replays. */
  readonly offlineStore?: OfflineStore;
  readonly reconnect?: { readonly minDelayMs?: number; readonly maxDelayMs?: number };
  /** Connect from the constructor. Default true. */
  readonly autoConnect?: boolean;
  /** Monotonic clock used for clock sync. Default `performance.now()`. Injectable for tests. */
  readonly clock?: MonotonicClock;
}

export interface ResolvedOptions {
  readonly url: string;
  readonly fallbackUrls: readonly string[];
  readonly room: string;
  readonly sendRate: number;
  readonly token: string | undefined;
  readonly codec: 'binary' | 'json';
  readonly transport: WebSocketConstructor | undefined;
  readonly world: WorldDefinition | undefined;
  readonly inputDelayFrames: InputDelay;
  readonly clientId: string | undefined;
  readonly offlineStore: OfflineStore | undefined;
  readonly minDelayMs: number;
  readonly maxDelayMs: number;
  readonly autoConnect: boolean;
  readonly clock: MonotonicClock | undefined;
}

/** Fills defaults and checks every option once; bad configuration throws a RangeError here, not later. */
export function resolveOptions(o: P3ClientOptions): ResolvedOptions {
  if (typeof o.host !== 'string' || o.host.length === 0)
    throw new RangeError('host must be a non-empty string');
  if (o.port !== undefined && (!Number.isInteger(o.port) || o.port < 1 || o.port > 65535))
    throw new RangeError('port must be an integer from 1 to 65535');
  const sendRate = o.sendRate ?? 20;
  if (!(sendRate > 0 && sendRate <= 1000)) throw new RangeError('sendRate must be in (0, 1000]');
  const room = typeof o.instanceId === 'number' ? String(o.instanceId) : o.instanceId;
  if (typeof room !== 'string' || room.length === 0 || room.length > messageLimits.maxRoomLength)
    throw new RangeError('instanceId must be a non-empty string or a number');
  const path = o.path ?? '/v1/connect';
  if (!path.startsWith('/')) throw new RangeError('path must start with /');
  const codec = o.codec ?? 'binary';
  if (codec !== 'binary' && codec !== 'json') throw new RangeError("codec must be 'binary' or 'json'");
  const inputDelayFrames = o.inputDelayFrames ?? 'arrival';
  if (
    inputDelayFrames !== 'auto' &&
    inputDelayFrames !== 'arrival' &&
    (!Number.isInteger(inputDelayFrames) || inputDelayFrames < 0)
  )
    throw new RangeError("inputDelayFrames must be 'arrival', 'auto' or an integer >= 0");
  if (
    o.clientId !== undefined &&
    (typeof o.clientId !== 'string' ||
      o.clientId.length === 0 ||
      o.clientId.length > messageLimits.maxIdLength)
  ) {
    throw new RangeError(`clientId must have 1 to ${messageLimits.maxIdLength} characters`);
  }
  const minDelayMs = o.reconnect?.minDelayMs ?? 250;
  const maxDelayMs = o.reconnect?.maxDelayMs ?? 10_000;
  if (!(minDelayMs >= 0) || !(maxDelayMs >= minDelayMs))
    throw new RangeError('reconnect delays must satisfy 0 <= minDelayMs <= maxDelayMs');
  const urlOf = (address: { readonly host: string; readonly port?: number }): string => {
    const host =
      address.host.includes(':') && !address.host.startsWith('[') ? `[${address.host}]` : address.host;
    const port = address.port === undefined ? '' : `:${address.port}`;
    return `${o.secure === true ? 'wss' : 'ws'}://${host}${port}${path}`;
  };
  return {
    url: urlOf(o),
    fallbackUrls: (o.fallbacks ?? []).map(urlOf),
    room,
    sendRate,
    token: o.token,
    codec,
    transport: o.transport,
    world: o.world,
    inputDelayFrames,
    clientId: o.clientId,
    offlineStore: o.offlineStore,
    minDelayMs,
    maxDelayMs,
    autoConnect: o.autoConnect ?? true,
    clock: o.clock,
  };
}
