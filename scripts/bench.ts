// `npm run bench`: engine and codec micro-benchmarks. Figures are ratios against a baseline measured in the same
// run (never absolute thresholds); run on an otherwise idle machine. Not part of CI.
import { benchTicks } from '../libs/engine/bench/tick.bench.js';
import { benchCodec } from '../libs/protocol/bench/codec.bench.js';
import { runsPerSecond } from './runs-per-second.js';

const fmt = (n: number, digits = 0) =>
  n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

console.log('engine ticks (10% of entities change per tick; baseline = the same mutations on plain objects)');
console.log('entities  engine ticks/s  baseline ticks/s  engine/baseline time  updates/frame');
for (const n of [1_000, 10_000]) {
  const r = benchTicks(n, runsPerSecond);
  console.log(
    `${String(n).padStart(8)}  ${fmt(r.engineTicksPerSecond).padStart(14)}  ${fmt(r.baselineTicksPerSecond).padStart(16)}  ${fmt(r.ratio, 2).padStart(20)}x  ${String(r.updatesPerFrame).padStart(13)}`,
  );
}

console.log('\nencoding a frame of 1,000 position updates (x, y of known entities)');
const c = benchCodec(runsPerSecond, 1000);
console.log(
  `bytes per entity update: JSON ${fmt(c.jsonBytesPerUpdate, 1)}, binary ${fmt(c.binaryBytesPerUpdate, 1)} (${fmt(c.jsonBytesPerUpdate / c.binaryBytesPerUpdate, 1)}x smaller)`,
);
console.log(
  `frames encoded per second: JSON ${fmt(c.jsonEncodesPerSecond)}, binary ${fmt(c.binaryEncodesPerSecond)} (binary time / JSON time ${fmt(c.encodeRatio, 2)}x)`,
);
