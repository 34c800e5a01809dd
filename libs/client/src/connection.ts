import { CloseCode, ErrorCode, P3Error, type WireData } from '@p3/protocol';
import { OPEN, toWireData, type WebSocketConstructor, type WebSocketLike } from './transport.js';

export interface ConnectionOptions {
  readonly url: string;
  /** Other gateways of the same cluster: each reconnect dials the next address after the one that dropped. */
  readonly fallbackUrls?: readonly string[];
  /** WebSocket subprotocol offered (`p3.binary` or `p3.json`). */
  readonly protocol: string;
  /** Resolves the WebSocket constructor (may load `ws` on demand). */
  readonly transport: () => Promise<WebSocketConstructor>;
  readonly minDelayMs: number;
  readonly maxDelayMs: number;
  /** Uniform in [0, 1): the jitter source (injectable for tests). */
  readonly random?: () => number;
}

/** What the owner of a connection hears. Handlers run inside socket callbacks: they must not throw. */
export interface ConnectionHandlers {
  open(): void;
  message(data: WireData): void;
  /** The socket closed (or could not open). Return true to reconnect after a backoff. */
  close(code: number, reason: string): boolean;
  error(error: P3Error): void;
}

/**
 * One logical connection over successive sockets: opens a socket, reports its messages, and after a close the
 * owner wants to recover from, opens the next one after a full-jitter exponential backoff (a delay drawn between
 * `minDelayMs` and `min(maxDelayMs, minDelayMs x 2^(attempt+1))`), so that a crowd of clients dropped at once
 * does not come back at once. The attempt counter resets when the owner calls `healthy()` (on a welcome, not on
 * open: a server that accepts and drops at once must not cause a fast reconnect loop).
 */
export class Connection {
  private socket: WebSocketLike | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private attempt = 0;
  private stopped = false;
  private dialing = false;
  /** Index into [url, ...fallbackUrls] of the address the next socket dials. */
  private next = 0;
  private readonly random: () => number;

  constructor(
    private readonly options: ConnectionOptions,
    private readonly handlers: ConnectionHandlers,
  ) {
    this.random = options.random ?? Math.random;
  }

  /** True while a socket is open. */
  get isOpen(): boolean {
    return this.socket !== undefined && this.socket.readyState === OPEN;
  }

  /** The subprotocol the server picked ('' when it picked none or before open). */
  get protocol(): string {
    return this.socket?.protocol ?? '';
  }

  /** Opens a socket unless one is open, opening, or a reconnect is scheduled. */
  start(): void {
    if (this.stopped || this.socket !== undefined || this.dialing || this.timer !== undefined) return;
    void this.dial();
  }

  send(data: WireData): boolean {
    const socket = this.socket;
    if (socket === undefined || socket.readyState !== OPEN) return false;
    try {
      socket.send(data);
      return true;
    } catch (cause) {
      this.handlers.error(new P3Error(ErrorCode.Internal, 'socket send failed', { cause }));
      return false;
    }
  }

  /** Closes the current socket; the owner's `close` handler decides about reconnecting. */
  drop(code: number, reason: string): void {
    this.socket?.close(code, reason);
  }

  /** Closes for good: no reconnect. True when a socket is closing (its close will still be reported). */
  stop(code: number = CloseCode.Normal, reason = 'client closed'): boolean {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const socket = this.socket;
    if (socket === undefined) return false;
    try {
      socket.close(code, reason);
    } catch {
      // Already closing.
    }
    return true;
  }

  /** The session is established: the next drop starts the backoff from its minimum again. */
  healthy(): void {
    this.attempt = 0;
  }

  /** Delay before reconnect attempt `attempt` (0-based). */
  backoffDelay(attempt: number): number {
    const { minDelayMs: min, maxDelayMs: max } = this.options;
    const ceiling = Math.min(max, min * 2 ** Math.min(attempt + 1, 30));
    return min + this.random() * Math.max(0, ceiling - min);
  }

  private async dial(): Promise<void> {
    this.dialing = true;
    let ctor: WebSocketConstructor;
    try {
      ctor = await this.options.transport();
    } catch (cause) {
      this.dialing = false;
      this.handlers.error(new P3Error(ErrorCode.Internal, 'no WebSocket transport available', { cause }));
      this.closed(CloseCode.BadHandshake, 'no WebSocket transport available');
      return;
    }
    this.dialing = false;
    if (this.stopped) return;
    let socket: WebSocketLike;
    const urls = [this.options.url, ...(this.options.fallbackUrls ?? [])];
    const url = urls[this.next % urls.length] ?? this.options.url;
    try {
      socket = new ctor(url, [this.options.protocol]);
    } catch (cause) {
      this.handlers.error(new P3Error(ErrorCode.Internal, `cannot open ${url}`, { cause }));
      this.closed(CloseCode.BadHandshake, 'cannot open the socket');
      return;
    }
    this.socket = socket;
    try {
      // Node's ws delivers Buffers as they come off the socket with 'nodebuffer' (its default), and copies each
      // message into a fresh ArrayBuffer with 'arraybuffer'. Browsers ignore a binary type they do not know.
      socket.binaryType = 'nodebuffer';
      if (socket.binaryType !== 'nodebuffer') socket.binaryType = 'arraybuffer';
    } catch {
      // Some implementations only deliver one binary type; toWireData reads the common ones.
    }
    socket.onopen = () => {
      if (this.socket === socket) this.handlers.open();
    };
    socket.onmessage = (event) => {
      if (this.socket !== socket) return;
      const data = toWireData(event.data);
      if (data === undefined)
        this.handlers.error(new P3Error(ErrorCode.Malformed, 'unsupported WebSocket message data'));
      else this.handlers.message(data);
    };
    socket.onerror = () => {
      // A close event always follows; the close code says what happened.
    };
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = undefined;
      this.closed(event.code, event.reason);
    };
  }

  private closed(code: number, reason: string): void {
    const again = this.handlers.close(code, reason);
    if (!again || this.stopped) return;
    // The gateway that dropped us may be gone: the next attempt tries the next address (any gateway serves any room).
    this.next++;
    const delay = this.backoffDelay(this.attempt++);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.start();
    }, delay);
  }
}
