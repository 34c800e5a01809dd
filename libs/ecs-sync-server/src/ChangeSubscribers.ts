import type { Patch } from '@p3/protocol';

/** One applied document change, as `subscribe` listeners receive it. */
export interface DocumentChange {
  /** The room timestamp (version) of the change. */
  readonly timestamp: number;
  /** Who sent it: a session's client id, or the origin given to `applyPatches`. */
  readonly clientId: string;
  readonly documentPatches: readonly Patch[];
}

type Listener = (change: DocumentChange) => void;

/**
 * The `subscribe` listeners of a room (server-sent events), each with what to call when the room closes.
 * A change goes to the listeners subscribed when it was applied (a later one got it in its resume diff), minus
 * those that left before it was delivered.
 */
export class ChangeSubscribers {
  private readonly listeners = new Map<Listener, (() => void) | undefined>();

  constructor(
    /** Runs when the last listener leaves. */
    private readonly onReleased: () => void,
    private readonly report: (error: unknown, context: string) => void,
  ) {}

  get size(): number {
    return this.listeners.size;
  }

  /** Adds a listener; returns its unsubscribe function. */
  add(listener: Listener, onClose: (() => void) | undefined): () => void {
    this.listeners.set(listener, onClose);
    return () => {
      if (!this.listeners.delete(listener) || this.listeners.size > 0) return;
      try {
        this.onReleased();
      } catch (error) {
        this.report(error, 'onReleased');
      }
    };
  }

  /** The delivery of `change` to the listeners of now (run it at once, or once the change is durable). */
  deliveryOf(change: DocumentChange): () => void {
    const now = [...this.listeners.keys()];
    return () => {
      for (const listener of now) {
        if (!this.listeners.has(listener)) continue;
        try {
          listener(change);
        } catch (error) {
          this.report(error, 'subscriber');
        }
      }
    };
  }

  /** Forgets every listener (without `onReleased`) and runs their `onClose`. */
  endAll(): void {
    const ends = [...this.listeners.values()];
    this.listeners.clear();
    for (const end of ends) {
      try {
        end?.();
      } catch (error) {
        this.report(error, 'subscriber close');
      }
    }
  }
}
