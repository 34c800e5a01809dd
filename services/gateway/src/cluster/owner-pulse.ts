import {
  busEcho,
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
  /** Names this process's echo subject (the gateway's id). */
  readonly selfId: string;
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
  private echo: BusSubscription | undefined;
  private echoHeard: number;
  private busWasDown = false;

  constructor(private readonly options: OwnerPulseOptions) {
    this.silentAfterMs = options.silentAfterMs ?? 1000;
    this.echoHeard = options.clock.now();
  }

  /**
   * Whether this gateway's own echo came back lately. When it does not, the bus (or our link to it) is down and
   * every owner falls silent at once: that says nothing about them, so nobody is reported and no room is moved.
   */
  get busHealthy(): boolean {
    return this.options.clock.now() - this.echoHeard <= this.echoGraceMs;
  }

  private get echoGraceMs(): number {
    return Math.max(300, this.silentAfterMs / 2);
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
      this.listenToEcho();
      // The check loop (and with it the echo) was idle: the last echo heard says nothing about the bus now.
      if (!this.cancelCheck) this.echoHeard = this.options.clock.now();
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
      if (this.owners.size === 0) {
        this.echo?.unsubscribe();
        this.echo = undefined;
      }
    };
  }

  close(): void {
    this.cancelCheck?.();
    this.cancelCheck = undefined;
    this.echo?.unsubscribe();
    this.echo = undefined;
    for (const entry of this.owners.values()) entry.subscription.unsubscribe();
    this.owners.clear();
  }

  private listenToEcho(): void {
    if (this.echo) return;
    this.echoHeard = this.options.clock.now();
    this.echo = this.options.bus.subscribe(busEcho(this.options.selfId), () => {
      this.echoHeard = this.options.clock.now();
    });
  }

  private scheduleCheck(): void {
    if (this.cancelCheck) return;
    this.cancelCheck = this.options.scheduler.after(Math.max(20, this.silentAfterMs / 8), () => {
      this.cancelCheck = undefined;
      const now = this.options.clock.now();
      this.options.bus.publish(busEcho(this.options.selfId), new Uint8Array(0));
      if (!this.busHealthy) this.busWasDown = true;
      else if (this.busWasDown) {
        // Back: everyone gets a fresh grace, since their pulses could not reach us meanwhile.
        this.busWasDown = false;
        for (const entry of this.owners.values()) entry.lastHeard = now;
      }
      for (const [owner, entry] of this.owners) {
        if (this.busWasDown) break;
        if (entry.silent || now - entry.lastHeard <= this.silentAfterMs) continue;
        entry.silent = true;
        this.options.logger.warn({ owner, silentMs: now - entry.lastHeard }, 'room owner stopped pulsing');
        this.options.onSilent(owner);
      }
      if (this.owners.size > 0) this.scheduleCheck();
    });
  }
}
