import type { Room, WebSocketLike } from '../../src/index.js';
import type { EcsSyncTestClient } from '@p3/test-support';

/**
 * An in-memory connection between a test client and a room, with explicit delivery: messages wait in one queue
 * per direction until the test delivers them. The server side has no addEventListener, so the room is driven
 * through the manual forwarding API (handleSocketMessage / handleSocketClose).
 */
export class MemoryConnection {
  readonly up: string[] = [];
  readonly down: string[] = [];
  /** The client still holds its end. */
  clientOpen = true;
  /** The room still holds its end (false once the room closed it or was told it closed). */
  serverOpen = true;
  readonly closeCodes: number[] = [];
  readonly socket: WebSocketLike;

  constructor(
    readonly room: Room,
    readonly client: EcsSyncTestClient,
    readonly sessionId: string,
  ) {
    this.socket = {
      send: (data) => {
        if (this.clientOpen) this.down.push(data);
      },
      close: (code) => {
        this.closeCodes.push(code ?? 1000);
        this.serverOpen = false;
        this.up.length = 0;
        if (this.clientOpen) {
          // Messages already sent by the server still arrive before the close.
          this.deliverAllDown();
          this.clientOpen = false;
          client.closed();
        }
      },
    };
  }

  /** Hands the socket to the room and opens the client (which queues its reconnect). */
  static async open(room: Room, client: EcsSyncTestClient, sessionId: string): Promise<MemoryConnection> {
    const connection = new MemoryConnection(room, client, sessionId);
    const accepted = room.handleSocketConnect({
      sessionId,
      socket: connection.socket,
      clientId: client.clientId,
    });
    client.opened((text) => {
      if (connection.clientOpen) connection.up.push(text);
    });
    await accepted;
    return connection;
  }

  /** Opens and delivers the reconnect and its reply. */
  static async join(
    room: Room,
    client: EcsSyncTestClient,
    sessionId = `${client.clientId}-${Math.random()}`,
  ): Promise<MemoryConnection> {
    const connection = await MemoryConnection.open(room, client, sessionId);
    connection.flush();
    return connection;
  }

  /** Delivers everything queued in both directions. */
  flush(): void {
    while (this.deliverUp());
    this.deliverAllDown();
  }

  deliverUp(): boolean {
    const text = this.up.shift();
    if (text === undefined || !this.serverOpen) return false;
    this.room.handleSocketMessage(this.sessionId, text);
    return true;
  }

  deliverDown(): boolean {
    const text = this.down.shift();
    if (text === undefined || !this.clientOpen) return false;
    this.client.receive(text);
    return true;
  }

  deliverAllDown(): void {
    while (this.deliverDown());
  }

  /**
   * The client side goes away. `lose`: its undelivered messages are lost (network drop) instead of delivered
   * first. `zombie`: the room does not notice yet (call `serverNoticesClose` later), like a dead TCP peer.
   */
  clientDrops(options: { lose: boolean; zombie: boolean }): void {
    if (!options.lose) while (this.deliverUp());
    this.up.length = 0;
    this.down.length = 0;
    this.clientOpen = false;
    this.client.closed();
    if (!options.zombie) this.serverNoticesClose();
  }

  serverNoticesClose(): void {
    if (!this.serverOpen) return;
    this.serverOpen = false;
    this.room.handleSocketClose(this.sessionId);
  }

  get idle(): boolean {
    return (this.up.length === 0 || !this.serverOpen) && (this.down.length === 0 || !this.clientOpen);
  }
}
