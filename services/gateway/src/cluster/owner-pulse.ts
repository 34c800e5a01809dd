import {
  simulatorAlive,
  type Bus,
  type BusSubscription,
  type Cancel,
  type Clock,
  type Scheduler,
} from '@p3/runtime';
import type { Logger } from 'pino';

export interface OwnerPulseOptions {
  readonly bus: Bus;
  readonly scheduler: Scheduler;
  readonly clock: Clock;
  readonly logger: Logger;
  /** An owner not heard for this long is presumed dead (simulators pulse every 250 ms). Default 1,000. */
  readonly silentAfterMs?: number;
  /** Called once per silence, for an owner some room here is watching. */
  readonly onSilent: (owner: string) => void;
}

interface Watched {
  readonly subscription: BusSubscription;
  lastHeard: number;
  watchers: number;
  silent: boolean;
}

/**
 * The pulses (`simulatorAlive`) of the simulators owning rooms this gateway serves. A simulator killed with -9 stops
 * pulsing at once, while its membership and leases live on for their TTL: hearing nothing for `silentAfterMs` lets
 * the gateway move its members to the next owner as soon as the leases allow, not a room silence later. One
 * subscription per owner in use, so a gateway hears the simulators of the rooms it serves, not the whole cluster.
 */
export class OwnerPulse {
  private readonly owners = new Map<string, Watched>();
  private readonly silentAfterMs: number;
  private cancelCheck: Cancel | undefined;

  constructor(private readonly options: OwnerPulseOptions) {
    this.silentAfterMs = options.silentAfterMs ?? 1000;
  }

  /** Listens for `owner`'s pulse until the returned function is called (once per watcher). */
  watch(owner: string): () => void {
    let watched = this.owners.get(owner);
    if (!watched) {
      const entry: Watched = {
        subscription: this.options.bus.subscribe(simulatorAlive(owner), () => {
          entry.lastHeard = this.options.clock.now();
          entry.silent = false;
        }),
        // Counted from now: the subscription needs a round trip before the first pulse can arrive.
        lastHeard: this.options.clock.now(),
        watchers: 0,
        silent: false,
      };
      watched = entry;
      this.owners.set(owner, entry);
      this.scheduleCheck();
    }
    watched.watchers++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const entry = this.owners.get(owner);
      if (!entry || --entry.watchers > 0) return;
      entry.subscription.unsubscribe();
      this.owners.delete(owner);
    };
  }

  close(): void {
    this.cancelCheck?.();
    this.cancelCheck = undefined;
    for (const entry of this.owners.values()) entry.subscription.unsubscribe();
    this.owners.clear();
  }

  private scheduleCheck(): void {
    if (this.cancelCheck) return;
    this.cancelCheck = this.options.scheduler.after(Math.max(20, this.silentAfterMs / 8), () => {
      this.cancelCheck = undefined;
      const now = this.options.clock.now();
      for (const [owner, entry] of this.owners) {
        if (entry.silent || now - entry.lastHeard <= this.silentAfterMs) continue;
        entry.silent = true;
        this.options.logger.warn({ owner, silentMs: now - entry.lastHeard }, 'room owner stopped pulsing');
        this.options.onSilent(owner);
      }
      if (this.owners.size > 0) this.scheduleCheck();
    });
  }
}
