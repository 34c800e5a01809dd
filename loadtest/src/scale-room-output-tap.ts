import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { roomOutput, wireSubject } from '@p3/runtime';

/** Room output messages (and payload bytes) published on NATS while a tap counted. */
export interface TapCounts {
  readonly seconds: number;
  readonly messages: number;
  readonly bytes: number;
}

/**
 * Counts what the simulators publish on the room output subjects of a cluster (`<prefix>.<tenant>.room.<room>.out`):
 * all rooms together, and one room alone. What a gateway takes in is set against these: the whole cluster's output,
 * and the output of the rooms it serves. Counts only between `begin` and `end`.
 */
export class RoomOutputTap {
  private readonly subscriptions: Subscription[] = [];
  private measuring = false;
  private startedAt = 0;
  private all = { messages: 0, bytes: 0 };
  private one = { messages: 0, bytes: 0 };

  constructor(
    private readonly nats: NatsConnection,
    prefix: string,
    room: string,
    tenant = 'default',
  ) {
    const count = (into: { messages: number; bytes: number }, bytes: number): void => {
      if (!this.measuring) return;
      into.messages++;
      into.bytes += bytes;
    };
    // `*` for the tenant and room tokens: every room of this cluster, and nothing of another prefix.
    this.subscriptions.push(
      nats.subscribe(`${prefix}.*.room.*.out`, { callback: (_e, m) => count(this.all, m.data.byteLength) }),
      nats.subscribe(wireSubject(prefix, roomOutput({ tenant, room })), {
        callback: (_e, m) => count(this.one, m.data.byteLength),
      }),
    );
  }

  /** Resolves once NATS has the subscriptions (messages published after it are seen). */
  async ready(): Promise<void> {
    await this.nats.flush();
  }

  begin(): void {
    this.all = { messages: 0, bytes: 0 };
    this.one = { messages: 0, bytes: 0 };
    this.startedAt = performance.now();
    this.measuring = true;
  }

  end(): { readonly all: TapCounts; readonly room: TapCounts } {
    this.measuring = false;
    const seconds = (performance.now() - this.startedAt) / 1000;
    return { all: { seconds, ...this.all }, room: { seconds, ...this.one } };
  }

  close(): void {
    for (const s of this.subscriptions) s.unsubscribe();
  }
}
