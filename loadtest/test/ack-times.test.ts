import { describe, expect, it } from 'vitest';
import { AckTimes } from '../src/ack-times.js';

function collect(): { samples: number[]; sample: (ms: number) => void } {
  const samples: number[] = [];
  return { samples, sample: (ms) => samples.push(ms) };
}

describe('AckTimes', () => {
  it('gives each counted send one sample, from its send to the first ack covering it', () => {
    const times = new AckTimes();
    const { samples, sample } = collect();
    times.sent(2, 100, true);
    times.sent(3, 150, true);
    times.sent(4, 200, true);
    // A cumulative ack through 3 ends the wait of 2 and 3; 4 waits for the next one.
    times.acked(3, 1000, sample);
    expect(samples).toEqual([900, 850]);
    times.acked(3, 1100, sample);
    times.acked(2, 1100, sample);
    expect(samples).toHaveLength(2);
    times.acked(4, 1200, sample);
    expect(samples).toEqual([900, 850, 1000]);
  });

  it('counts only sends inside the window, whenever their ack arrives', () => {
    const times = new AckTimes();
    const { samples, sample } = collect();
    times.sent(2, 0, false);
    times.sent(3, 50, true);
    times.sent(4, 100, false);
    times.acked(4, 500, sample);
    expect(samples).toEqual([450]);
  });

  it('ignores an ack above the last send, and gives no sample for a send that lost its slot to newer ones', () => {
    const times = new AckTimes();
    const { samples, sample } = collect();
    for (let seq = 1; seq <= 1030; seq++) times.sent(seq, seq, true);
    times.acked(5000, 2000, sample);
    // The ring holds the newest 1,024 sends: 7..1030.
    expect(samples).toHaveLength(1024);
    expect(samples[0]).toBe(2000 - 7);
  });
});
