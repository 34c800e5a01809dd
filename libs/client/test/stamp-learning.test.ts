import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { useServer } from './support/fixture.js';
import { frameWhere } from './support/latch.js';

const delayMs = 60;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Delivery {
  /** The message's send frame (`through`): what its ops were stamped for. */
  readonly frame: number;
  /** The room's latest simulated frame when the message reached it. */
  readonly roomFrame: number;
  readonly at: number;
}

describe('learning the margin from late ops', () => {
  const t = useServer();

  it("[CLIENT-32] with 'auto', ops delayed on the way where pings are not come late at first, then on time and not held", async () => {
    const deliveries: Delivery[] = [];
    const room = () => t.server.room(t.room)!;
    /** A link that holds `ops` messages back by 60 ms (more than a 50 ms tick) and nothing else: pings do not see it. */
    class SlowOpsSocket extends WebSocket {
      override send(data: unknown, ...rest: never[]): void {
        const text = typeof data === 'string' ? data : '';
        const send = () => (super.send as (d: unknown, ...r: never[]) => void)(data, ...rest);
        if (!text.startsWith('{"type":"ops"')) return send();
        const through = (JSON.parse(text) as { through?: number }).through;
        setTimeout(() => {
          if (through !== undefined)
            deliveries.push({ frame: through, roomFrame: room().world.frame, at: performance.now() });
          if (this.readyState === WebSocket.OPEN) send();
        }, delayMs);
      }
    }
    const p3 = t.client({
      codec: 'json',
      transport: SlowOpsSocket as unknown as typeof WebSocket,
      inputDelayFrames: 'auto',
    });
    await p3.connect();
    const avatar = p3.createEntity('avatar', { x: 0 });
    await frameWhere(p3, (f) => f.getWorldEntity(avatar) !== undefined);
    const started = performance.now();
    for (let x = 1; performance.now() - started < 4000; x++) {
      p3.updateEntity(avatar, { x });
      await sleep(40 + ((x * 17) % 25));
    }
    await sleep(delayMs + 20);
    const early = deliveries.filter((d) => d.at - started < 1000);
    const settled = deliveries.filter((d) => d.at - started > 2000);
    const late = (ds: Delivery[]) => ds.filter((d) => d.frame <= d.roomFrame).length;
    // Pings see a fast link, so the first ops are stamped too early and come late (the room corrects them) ...
    expect(late(early)).toBeGreaterThan(0);
    // ... until the client learnt the margin from the corrections: then on time ...
    expect(settled.length).toBeGreaterThan(20);
    expect(late(settled) / settled.length).toBeLessThanOrEqual(0.1);
    // ... and held for at most the next frame after the one they reach the room before (the raises overshoot by
    // less than a tick, which then decays; not a fixed delay).
    const held = settled.map((d) => d.frame - d.roomFrame - 1);
    expect(Math.max(...held)).toBeLessThanOrEqual(1);
    expect(held.reduce((sum, h) => sum + h, 0) / held.length).toBeLessThanOrEqual(0.75);
  });
});
