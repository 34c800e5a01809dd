import { systemClock, type Clock } from '../ports/clock.js';
import type { SimulatorInfo, Membership } from '../ports/membership.js';

interface Member {
  expiresAt: number;
  info: SimulatorInfo;
}

/**
 * Simulator membership in this process's memory, for single-process deployments and tests. Time comes from the
 * injected clock, so tests expire members by moving a `ManualClock`.
 */
export class MemoryMembership implements Membership {
  private readonly live = new Map<string, Member>();
  private readonly clock: Clock;

  constructor(options: { clock?: Clock } = {}) {
    this.clock = options.clock ?? systemClock;
  }

  async join(memberId: string, ttlMs: number, info: SimulatorInfo = {}): Promise<void> {
    checkTtl(ttlMs);
    this.live.set(memberId, { expiresAt: this.clock.now() + ttlMs, info: { ...info } });
  }

  async heartbeat(memberId: string, ttlMs: number): Promise<boolean> {
    checkTtl(ttlMs);
    const member = this.find(memberId);
    if (!member) return false;
    member.expiresAt = this.clock.now() + ttlMs;
    return true;
  }

  async leave(memberId: string): Promise<void> {
    this.live.delete(memberId);
  }

  async members(): Promise<string[]> {
    const now = this.clock.now();
    for (const [id, member] of this.live) if (member.expiresAt <= now) this.live.delete(id);
    return [...this.live.keys()].sort();
  }

  async info(memberId: string): Promise<SimulatorInfo | null> {
    const member = this.find(memberId);
    return member ? { ...member.info } : null;
  }

  async close(): Promise<void> {}

  private find(memberId: string): Member | null {
    const member = this.live.get(memberId);
    if (!member) return null;
    if (member.expiresAt > this.clock.now()) return member;
    // Expired members are dropped on sight so a late heartbeat cannot revive them.
    this.live.delete(memberId);
    return null;
  }
}

function checkTtl(ttlMs: number): void {
  if (!Number.isInteger(ttlMs) || ttlMs <= 0)
    throw new RangeError(`ttlMs must be a positive integer, got ${ttlMs}`);
}
