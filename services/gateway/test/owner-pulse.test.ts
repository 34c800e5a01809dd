import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import {
  ManualClock,
  ManualScheduler,
  MemoryBroker,
  MemoryBus,
  simulatorAlive,
  type Bus,
  type BusSubject,
} from '@p3/runtime';
import { OwnerPulse } from '../src/cluster/owner-pulse.js';

const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

function harness() {
  const clock = new ManualClock(0);
  const scheduler = new ManualScheduler(clock);
  const broker = new MemoryBroker();
  const memoryBus = new MemoryBus({ broker });
  // The gateway's link to the bus, which a test can cut: nothing it publishes leaves, nothing reaches it.
  const link = { down: false };
  const gatewayBus: Bus = {
    maxPayload: memoryBus.maxPayload,
    publish: (subject: BusSubject, payload: Uint8Array) => {
      if (!link.down) memoryBus.publish(subject, payload);
    },
    subscribe: (subject: BusSubject, handler: (payload: Uint8Array) => void) =>
      memoryBus.subscribe(subject, (payload) => {
        if (!link.down) handler(payload);
      }),
    flush: () => memoryBus.flush(),
    close: () => memoryBus.close(),
  };
  const simulatorBus = new MemoryBus({ broker });
  const silent: string[] = [];
  const pulse = new OwnerPulse({
    bus: gatewayBus,
    selfId: 'gw-1',
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
  return { clock, pulse, silent, run, broker: memoryBus, beat, link };
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
    // sim-a's pulse and the gateway's own echo.
    expect(broker.subjectCount).toBe(2);
    first();
    first(); // twice is harmless
    await h.run(500, () => true);
    expect(broker.subjectCount).toBe(2);
    second();
    expect(broker.subjectCount).toBe(0);
    // Nobody watches: silence is nobody's business.
    await h.run(3000, () => false);
    expect(h.silent).toEqual([]);
    h.pulse.close();
  });

  it('[PULSE-3] while the gateway cannot hear its own echo (its bus link is down), no owner is reported; after it, each gets a fresh grace', async () => {
    const h = harness();
    h.pulse.watch('sim-a');
    await h.run(2000, () => true);
    expect(h.pulse.busHealthy).toBe(true);
    h.link.down = true;
    await h.run(5000, () => true);
    expect(h.pulse.busHealthy).toBe(false);
    expect(h.silent).toEqual([]);
    h.link.down = false;
    // Back, with sim-a pulsing: nobody is reported, though its last pulse heard is 5 s old.
    await h.run(2000, () => true);
    expect(h.pulse.busHealthy).toBe(true);
    expect(h.silent).toEqual([]);
    // A real silence is still reported.
    await h.run(2000, () => false);
    expect(h.silent).toEqual(['sim-a']);
    h.pulse.close();
  });
});
