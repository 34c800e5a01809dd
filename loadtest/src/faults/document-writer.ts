import { WsTestClient } from '@p3/test-support';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * An ecs-sync document writer that reconnects like the ecs-sync client (to the next gateway of its list), and
 * remembers the last change acknowledged: afterwards that change must be in the room.
 */
export class DocumentWriter {
  private client: WsTestClient;
  private counter = 0;
  lastAcked = 0;
  private stopped = false;
  private readonly pending = new Map<string, number>();

  constructor(
    private readonly urls: () => readonly string[],
    private readonly room: string,
    readonly key: string,
  ) {
    this.client = this.fresh(0);
  }

  private fresh(attempt: number): WsTestClient {
    const urls = this.urls();
    const client = new WsTestClient(urls[attempt % urls.length] ?? '', `writer-${this.key}`, this.room);
    const receive = client.receive.bind(client);
    client.receive = (text: string) => {
      receive(text);
      const message = JSON.parse(text) as { type: string; messageId?: string };
      const n = message.type === 'ack' && message.messageId ? this.pending.get(message.messageId) : undefined;
      if (n !== undefined) this.lastAcked = Math.max(this.lastAcked, n);
    };
    return client;
  }

  async start(): Promise<void> {
    let attempt = 0;
    for (;;) {
      if (this.stopped) return;
      try {
        await this.client.connect();
        await new Promise<void>((resolve) => {
          const check = setInterval(() => {
            if (!this.client.online || this.stopped) {
              clearInterval(check);
              resolve();
            }
          }, 20);
        });
      } catch {
        // not reachable now: try the next gateway
      }
      if (this.stopped) return;
      attempt++;
      await sleep(200);
      this.client = this.fresh(attempt);
    }
  }

  write(): void {
    if (!this.client.online) return;
    const n = ++this.counter;
    const id = this.client.edit({ [this.key]: { n } });
    if (id !== undefined) this.pending.set(id, n);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.client.disconnect().catch(() => undefined);
  }
}
