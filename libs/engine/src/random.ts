/** A deterministic random source: same seed, same sequence, on every machine. */
export interface RandomSource {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform 32-bit unsigned integer. */
  nextUint32(): number;
}

/** Mixes a world seed and a frame id into one 32-bit seed (so a re-simulated frame draws the same numbers). */
export function frameSeed(worldSeed: number, frame: number): number {
  let h = (worldSeed ^ 0x9e3779b9) >>> 0;
  h = Math.imul(h ^ (frame >>> 0), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ Math.floor(frame / 2 ** 32), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** SplitMix32: small, fast, good enough for gameplay (not for secrets). */
export function createRandom(seed: number): RandomSource {
  let state = seed >>> 0;
  const nextUint32 = (): number => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  return { nextUint32, next: () => nextUint32() / 2 ** 32 };
}
