/** Listener of one event of an emitter whose events are described by the map `M`. */
export type Listener<M, K extends keyof M> = (payload: M[K]) => void;

/**
 * A tiny typed emitter. A listener that throws never breaks the emitter's owner: the error goes to `onListenerError`
 * (the client reports it as an `error` event; an `error` listener that throws is ignored, so nothing loops).
 *
 * @example
 * const events = new TypedEmitter<{ tick: number }>();
 * events.on('tick', (n) => console.log(n));
 * events.emit('tick', 1);
 */
export class TypedEmitter<M> {
  private readonly listeners = new Map<keyof M, Set<(payload: never) => void>>();
  /** Per event, the listeners as an array (what `emit` walks), rebuilt after `on`/`off`: an emit allocates nothing. */
  private readonly snapshots = new Map<keyof M, ReadonlyArray<(payload: never) => void>>();

  constructor(private readonly onListenerError: (error: unknown, event: keyof M) => void = () => undefined) {}

  on<K extends keyof M>(event: K, listener: Listener<M, K>): void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener as (payload: never) => void);
    this.snapshots.delete(event);
  }

  off<K extends keyof M>(event: K, listener: Listener<M, K>): void {
    this.listeners.get(event)?.delete(listener as (payload: never) => void);
    this.snapshots.delete(event);
  }

  listenerCount(event: keyof M): number {
    return this.listeners.get(event)?.size ?? 0;
  }

  /** Calls every listener of `event` (a snapshot: listeners added meanwhile wait for the next emit). */
  emit<K extends keyof M>(event: K, payload: M[K]): void {
    let listeners = this.snapshots.get(event);
    if (listeners === undefined) {
      const set = this.listeners.get(event);
      if (!set || set.size === 0) return;
      this.snapshots.set(event, (listeners = [...set]));
    }
    for (const listener of listeners) {
      try {
        (listener as Listener<M, K>)(payload);
      } catch (error) {
        try {
          this.onListenerError(error, event);
        } catch {
          // The error handler itself failed: nothing sensible is left to tell.
        }
      }
    }
  }

  removeAll(): void {
    this.listeners.clear();
    this.snapshots.clear();
  }
}
