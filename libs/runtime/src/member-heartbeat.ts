import type { Logger } from 'pino';
import type { Membership, SimulatorInfo } from './ports/membership.js';
import type { Cancel, Scheduler } from './ports/scheduler.js';

/**
 * Keeps one member live in a Membership: joins, heartbeats every third of the TTL, joins again if it expired
 * meanwhile (a long pause), and leaves on `stop()`. Gateways use it so that simulators can tell the attachments
 * of a dead gateway (kill -9: no socket close ever arrives) from those of a live one, within one TTL.
 *
 * @example
 * const heartbeat = new MemberHeartbeat({ membership: gateways, memberId, ttlMs: 3000, scheduler: timerScheduler });
 * await heartbeat.start();
 */
export class MemberHeartbeat {
  private cancel: Cancel = () => undefined;
  private stopped = false;

  constructor(
    private readonly options: {
      readonly membership: Membership;
      readonly memberId: string;
      readonly ttlMs: number;
      readonly scheduler: Scheduler;
      readonly info?: SimulatorInfo;
      readonly logger?: Pick<Logger, 'warn'>;
    },
  ) {}

  async start(): Promise<void> {
    const { membership, memberId, ttlMs, info } = this.options;
    await membership.join(memberId, ttlMs, info);
    this.schedule();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.cancel();
    await this.options.membership.leave(this.options.memberId).catch(() => undefined);
  }

  private schedule(): void {
    this.cancel = this.options.scheduler.after(Math.max(1, Math.floor(this.options.ttlMs / 3)), () => {
      void this.beat().finally(() => {
        if (!this.stopped) this.schedule();
      });
    });
  }

  private async beat(): Promise<void> {
    const { membership, memberId, ttlMs, info } = this.options;
    try {
      if (!(await membership.heartbeat(memberId, ttlMs)) && !this.stopped)
        await membership.join(memberId, ttlMs, info);
    } catch (error) {
      this.options.logger?.warn({ err: error, member: memberId }, 'membership heartbeat failed');
    }
  }
}
