import type { AckResponse, ComponentData, EcsSyncServerMessage, Patch } from '@p3/protocol';
import { WebSocket } from 'ws';

/**
 * A transport-agnostic ecs-sync client that speaks the protocol like the existing client:
 * - on every open it sends `reconnect { lastTimestamp, protocolVersion: 1, documentPatches?: [offline buffer],
 *   ephemeralPatches?: [own ephemeral state] }` first;
 * - afterwards `patch { messageId, documentPatches?, ephemeralPatches? }`;
 * - it keeps `lastTimestamp` from every `ack` and every `patch`;
 * - offline document edits merge into one buffered patch.
 *
 * Its local document is kept exactly: `confirmed` is the server-ordered state (broadcasts, reconnect replies, own
 * patches once acked), and the local view is `confirmed` plus what is not confirmed yet, in order: the buffer of
 * an unanswered reconnect, unacknowledged patches, the offline buffer. Like the client, a patch whose ack never
 * came is dropped on close (the reconnect diff brings it if the server applied it), and a reconnect buffer whose
 * reply never came is sent again. When nothing is pending the view must equal the room's document.
 */
export class EcsSyncTestClient {
  lastTimestamp = 0;
  clientCount = 0;
  readonly received: EcsSyncServerMessage[] = [];
  private readonly confirmed = new Map<string, ComponentData>();
  private readonly inFlight = new Map<string, Patch>();
  private offlineBuffer: Patch = {};
  /** The offline buffer sent in the last reconnect, until its reply arrives (back to the buffer on a drop). */
  private sentBuffer: Patch = {};
  private localEphemeral: Patch = {};
  private readonly remoteEphemeral = new Map<string, ComponentData>();
  private transport: ((text: string) => void) | undefined;
  private counter = 0;
  private readonly listeners = new Set<() => void>();

  constructor(readonly clientId: string) {}

  get online(): boolean {
    return this.transport !== undefined;
  }

  /** The socket opened: send the reconnect (with the offline buffer and own ephemeral state). */
  opened(send: (text: string) => void): void {
    this.transport = send;
    this.inFlight.clear();
    const buffer = this.offlineBuffer;
    this.offlineBuffer = {};
    this.sentBuffer = buffer;
    send(
      JSON.stringify({
        type: 'reconnect',
        lastTimestamp: this.lastTimestamp,
        protocolVersion: 1,
        ...(Object.keys(buffer).length > 0 ? { documentPatches: [buffer] } : {}),
        ...(Object.keys(this.localEphemeral).length > 0 ? { ephemeralPatches: [this.localEphemeral] } : {}),
      }),
    );
  }

  /** The socket closed: unacknowledged patches are dropped (the reconnect diff brings what the server applied). */
  closed(): void {
    this.transport = undefined;
    this.inFlight.clear();
    // A reconnect whose reply never came may not have arrived: send its buffer again next time (like the client).
    this.offlineBuffer = mergePatches(this.sentBuffer, this.offlineBuffer);
    this.sentBuffer = {};
    this.remoteEphemeral.clear();
    this.notify();
  }

  receive(text: string): void {
    const message = JSON.parse(text) as EcsSyncServerMessage;
    this.received.push(message);
    switch (message.type) {
      case 'ack': {
        this.lastTimestamp = message.timestamp;
        const sent = this.inFlight.get(message.messageId);
        if (sent !== undefined) {
          applyPatch(this.confirmed, sent);
          this.inFlight.delete(message.messageId);
        }
        break;
      }
      case 'patch':
        this.lastTimestamp = message.timestamp;
        // The reconnect reply (the connect-time ephemeral state is stamped 0; a reply to a non-empty buffer is
        // not) carries every change after lastTimestamp, the buffer's included.
        if (message.clientId === '' && message.timestamp > 0) this.sentBuffer = {};
        for (const patch of message.documentPatches ?? []) applyPatch(this.confirmed, patch);
        for (const patch of message.ephemeralPatches ?? []) applyPatch(this.remoteEphemeral, patch);
        break;
      case 'clientCount':
        this.clientCount = message.count;
        break;
      default:
        break;
    }
    this.notify();
  }

  /** A local document edit: sent at once when online, merged into the offline buffer otherwise. */
  edit(document: Patch | undefined, ephemeral?: Patch): string | undefined {
    if (ephemeral !== undefined) this.localEphemeral = mergePatches(this.localEphemeral, ephemeral);
    if (!this.online) {
      if (document !== undefined) this.offlineBuffer = mergePatches(this.offlineBuffer, document);
      return undefined;
    }
    const messageId = `${this.clientId}-${++this.counter}`;
    if (document !== undefined) this.inFlight.set(messageId, document);
    this.sendJson({
      type: 'patch',
      messageId,
      ...(document !== undefined ? { documentPatches: [document] } : {}),
      ...(ephemeral !== undefined ? { ephemeralPatches: [ephemeral] } : {}),
    });
    return messageId;
  }

  /** Sends any JSON value (tests of the server's input handling). */
  sendJson(message: unknown): void {
    this.sendText(JSON.stringify(message));
  }

  sendText(text: string): void {
    if (this.transport === undefined) throw new Error(`${this.clientId} is offline`);
    this.transport(text);
  }

  /** Barrier: an empty patch is acked after everything the server sent before. */
  async sync(): Promise<AckResponse> {
    const messageId = `${this.clientId}-sync-${++this.counter}`;
    const from = this.received.length;
    this.sendJson({ type: 'patch', messageId });
    return this.waitFor((m): m is AckResponse => m.type === 'ack' && m.messageId === messageId, from);
  }

  /** Local view of the document: live keys only. */
  document(): Record<string, ComponentData> {
    const view = new Map(this.confirmed);
    applyPatch(view, this.sentBuffer);
    for (const patch of this.inFlight.values()) applyPatch(view, patch);
    applyPatch(view, this.offlineBuffer);
    return Object.fromEntries(view);
  }

  /** Other clients' ephemeral state as this client sees it. */
  othersEphemeral(): Record<string, ComponentData> {
    return Object.fromEntries(this.remoteEphemeral);
  }

  /** This client's own ephemeral state (live keys). */
  ownEphemeral(): Record<string, ComponentData> {
    return Object.fromEntries(
      Object.entries(this.localEphemeral).filter(([, data]) => data._exists !== false),
    );
  }

  pendingCount(): number {
    return this.inFlight.size + Object.keys(this.offlineBuffer).length + Object.keys(this.sentBuffer).length;
  }

  /** Resolves with the first message from index `from` on that matches; rejects after `timeoutMs`. */
  waitFor<T extends EcsSyncServerMessage>(
    match: (m: EcsSyncServerMessage) => m is T,
    from?: number,
    timeoutMs?: number,
  ): Promise<T>;
  waitFor(
    match: (m: EcsSyncServerMessage) => boolean,
    from?: number,
    timeoutMs?: number,
  ): Promise<EcsSyncServerMessage>;
  waitFor(
    match: (m: EcsSyncServerMessage) => boolean,
    from = 0,
    timeoutMs = 5000,
  ): Promise<EcsSyncServerMessage> {
    return this.until(
      () => this.received.slice(from).find(match),
      timeoutMs,
      `${this.clientId}: no matching message`,
    );
  }

  /** Resolves once `check` returns a value other than undefined (checked after every message and close). */
  until<T>(check: () => T | undefined, timeoutMs = 5000, what = 'condition'): Promise<T> {
    const now = check();
    if (now !== undefined) return Promise.resolve(now);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.listeners.delete(listener);
        reject(
          new Error(
            `timed out after ${timeoutMs} ms waiting for ${what}; received ${JSON.stringify(this.received.slice(-5))}`,
          ),
        );
      }, timeoutMs);
      const listener = () => {
        const value = check();
        if (value === undefined) return;
        clearTimeout(timer);
        this.listeners.delete(listener);
        resolve(value);
      };
      this.listeners.add(listener);
    });
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }
}

/** Server semantics (FieldStore.write): `_exists: false` deletes; otherwise fields merge and the key exists. */
export function applyPatch(state: Map<string, ComponentData>, patch: Patch): void {
  for (const [key, data] of Object.entries(patch)) {
    if (data._exists === false) state.delete(key);
    else state.set(key, { ...state.get(key), ...data, _exists: true });
  }
}

/**
 * Merges patches like the client's offline buffer: a deletion replaces the key; a write after a deletion starts
 * the key afresh (the deletion itself is not representable in one patch), otherwise fields merge.
 */
export function mergePatches(base: Patch, next: Patch): Patch {
  const out = new Map(Object.entries(base));
  for (const [key, data] of Object.entries(next)) {
    const previous = out.get(key);
    if (data._exists === false || previous === undefined || previous._exists === false)
      out.set(key, { ...data });
    else out.set(key, { ...previous, ...data });
  }
  return Object.fromEntries(out);
}

/** An EcsSyncTestClient on a real socket, opened the way the existing client opens it. */
export class WsTestClient extends EcsSyncTestClient {
  private socket: WebSocket | undefined;
  readonly closes: { code: number; reason: string }[] = [];

  constructor(
    private readonly baseUrl: string,
    clientId: string,
    private readonly roomId = 'room',
    /** Extra query parameters (e.g. `token`), appended like the application would. */
    private readonly query: Record<string, string> = {},
  ) {
    super(clientId);
  }

  /** Opens the socket (the reconnect goes out on open); resolves once it is open. */
  connect(): Promise<void> {
    const url = new URL(this.baseUrl);
    url.searchParams.set('roomId', this.roomId);
    url.searchParams.set('clientId', this.clientId);
    for (const [name, value] of Object.entries(this.query)) url.searchParams.set(name, value);
    const socket = new WebSocket(url.toString());
    this.socket = socket;
    return new Promise<void>((resolve, reject) => {
      socket.addEventListener('open', () => {
        this.opened((text) => socket.send(text));
        resolve();
      });
      socket.addEventListener('error', () => reject(new Error(`${this.clientId}: connection failed`)));
      socket.addEventListener('message', (event) => this.receive(String(event.data)));
      socket.addEventListener('close', (event) => {
        this.closes.push({ code: event.code, reason: event.reason });
        if (this.socket === socket) this.socket = undefined;
        this.closed();
      });
    });
  }

  /** Connects and waits for the reconnect reply (a barrier ack comes after it). */
  async join(): Promise<void> {
    await this.connect();
    await this.sync();
  }

  /** Closes the socket and waits until the client saw the close. */
  async disconnect(): Promise<void> {
    const socket = this.socket;
    if (socket === undefined) return;
    const done = new Promise<void>((resolve) => socket.addEventListener('close', () => resolve()));
    socket.close();
    await done;
  }
}
