import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ManualClock, ManualScheduler, MemoryBroker, MemoryBus, simulatorAlive } from '@p3/runtime';
import { OwnerPulse } from '../src/cluster/owner-pulse.js';

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

function harness() {
  const clock = new ManualClock(0);
  const scheduler = new ManualScheduler(clock);
  const broker = new MemoryBroker();
  const gatewayBus = new MemoryBus({ broker });
  const simulatorBus = new MemoryBus({ broker });
  const silent: string[] = [];
  const pulse = new OwnerPulse({
    bus: gatewayBus,
    scheduler,
    clock,
    logger: pino({ level: 'silent' }),
    silentAfterMs: 1000,
    onSilent: (owner) => silent.push(owner),
  });
  const beat = async (owner: string) => {
    simulatorBus.publish(simulatorAlive(owner), new Uint8Array(0));
    await settle();
  };
  /** Moves time in 50 ms steps, `sim-a` pulsing every 250 ms while `pulsing` says so. */
  const run = async (ms: number, pulsing: (at: number) => boolean) => {
    for (let t = 0; t < ms; t += 50) {
      if (clock.now() % 250 === 0 && pulsing(clock.now())) await beat('sim-a');
      scheduler.advance(50);
      await settle();
    }
  };
  return { clock, pulse, silent, run, broker: gatewayBus, beat };
}

describe('OwnerPulse', () => {
  it('[PULSE-1] an owner that keeps pulsing is never silent; one that stops is reported once, within the threshold', async () => {
    const h = harness();
    const unwatch = h.pulse.watch('sim-a');
    await h.run(5000, () => true);
    expect(h.silent).toEqual([]);
    const stoppedAt = h.clock.now();
    let reportedAt: number | undefined;
    await h.run(3000, () => {
      if (h.silent.length > 0) reportedAt ??= h.clock.now();
      return false;
    });
    expect(h.silent).toEqual(['sim-a']);
    // The last pulse was at most 250 ms before the stop; the check runs every 125 ms.
    expect(reportedAt! - stoppedAt).toBeGreaterThan(700);
    expect(reportedAt! - stoppedAt).toBeLessThanOrEqual(1200);
    // Pulsing again ends the silence: a later stop is reported again.
    await h.run(1000, () => true);
    await h.run(2000, () => false);
    expect(h.silent).toEqual(['sim-a', 'sim-a']);
    unwatch();
  });

  it('[PULSE-2] one subscription per owner while anyone watches it; none after the last unwatch', async () => {
    const h = harness();
    const broker = h.broker.broker;
    const first = h.pulse.watch('sim-a');
    const second = h.pulse.watch('sim-a');
    expect(broker.subjectCount).toBe(1);
    first();
    first(); // twice is harmless
    await h.run(500, () => true);
    expect(broker.subjectCount).toBe(1);
    second();
    expect(broker.subjectCount).toBe(0);
    // Nobody watches: silence is nobody's business.
    await h.run(3000, () => false);
    expect(h.silent).toEqual([]);
    h.pulse.close();
  });
});
