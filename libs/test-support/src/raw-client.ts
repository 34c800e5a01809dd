import {
  BinaryCodec,
  JsonCodec,
  Subprotocol,
  type ClientCodec,
  type ClientMessage,
  type ServerMessage,
} from '@p3/protocol';
import WebSocket from 'ws';

type Codec = 'json' | 'binary';

/**
 * A bare P3 protocol client over a real WebSocket, for tests: sends exactly what it is told, records everything it
 * receives, and lets a test wait for a message instead of sleeping.
 */
export class RawClient {
  readonly received: ServerMessage[] = [];
  readonly errors: string[] = [];
  closeCode: number | undefined;
  closeReason = '';
  private readonly codec: ClientCodec;
  private waiters: Array<{ test: (m: ServerMessage) => boolean; resolve: (m: ServerMessage) => void }> = [];
  private closeWaiters: Array<() => void> = [];

  private constructor(
    readonly socket: WebSocket,
    codec: Codec,
  ) {
    this.codec = codec === 'binary' ? new BinaryCodec() : new JsonCodec();
    socket.on('message', (data: Buffer, isBinary: boolean) => {
      const decoded = this.codec.decodeServer(isBinary ? new Uint8Array(data) : data.toString('utf8'));
      if (!decoded.ok) {
        this.errors.push(`${decoded.error.code}: ${decoded.error.message}`);
        return;
      }
      this.received.push(decoded.value);
      this.waiters = this.waiters.filter((w) => {
        if (!w.test(decoded.value)) return true;
        w.resolve(decoded.value);
        return false;
      });
    });
    socket.on('close', (code, reason) => {
      this.closeCode = code;
      this.closeReason = reason.toString();
      for (const w of this.closeWaiters) w();
    });
  }

  static open(url: string, codec: Codec = 'json', protocols?: string[]): Promise<RawClient> {
    const socket = new WebSocket(
      url,
      protocols ?? [codec === 'binary' ? Subprotocol.Binary : Subprotocol.Json],
    );
    const client = new RawClient(socket, codec);
    return new Promise((resolve, reject) => {
      socket.once('open', () => resolve(client));
      socket.once('error', reject);
    });
  }

  send(message: ClientMessage): void {
    const data = this.codec.encodeClient(message);
    this.socket.send(typeof data === 'string' ? data : Buffer.from(data));
  }

  sendRaw(data: string | Uint8Array): void {
    this.socket.send(data);
  }

  /** Resolves with the first message (already received or future) passing `test`. */
  next<T extends ServerMessage['type']>(
    type: T,
    test: (m: Extract<ServerMessage, { type: T }>) => boolean = () => true,
    timeoutMs = 5000,
  ): Promise<Extract<ServerMessage, { type: T }>> {
    const match = (m: ServerMessage): m is Extract<ServerMessage, { type: T }> =>
      m.type === type && test(m as Extract<ServerMessage, { type: T }>);
    const seen = this.received.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `no ${type} message within ${timeoutMs} ms (got: ${this.received.map((m) => m.type).join(',')})`,
            ),
          ),
        timeoutMs,
      );
      this.waiters.push({
        test: match,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m as Extract<ServerMessage, { type: T }>);
        },
      });
    });
  }

  /** Waits for a message arriving after this call. */
  nextNew<T extends ServerMessage['type']>(
    type: T,
    test: (m: Extract<ServerMessage, { type: T }>) => boolean = () => true,
    timeoutMs = 5000,
  ): Promise<Extract<ServerMessage, { type: T }>> {
    const already = new Set(this.received);
    return this.next(type, (m) => !already.has(m) && test(m), timeoutMs);
  }

  of<T extends ServerMessage['type']>(type: T): Array<Extract<ServerMessage, { type: T }>> {
    return this.received.filter((m): m is Extract<ServerMessage, { type: T }> => m.type === type);
  }

  closed(timeoutMs = 5000): Promise<{ code: number | undefined; reason: string }> {
    if (this.closeCode !== undefined)
      return Promise.resolve({ code: this.closeCode, reason: this.closeReason });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('socket not closed in time')), timeoutMs);
      this.closeWaiters.push(() => {
        clearTimeout(timer);
        resolve({ code: this.closeCode, reason: this.closeReason });
      });
    });
  }

  close(): void {
    this.socket.close();
  }
}
