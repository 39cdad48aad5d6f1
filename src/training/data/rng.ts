/**
 * Seeded randomness for the data pipeline. Every random choice (split, PK batches, augmentation) is a pure
 * function of the run seed plus a few integers (epoch, batch index, slot), derived with `deriveSeed`, so a
 * resumed run replays exactly without having to serialise generator states.
 */
import { VisageError } from '../../errors.js';

/** murmur3's 32-bit finaliser: a cheap bijective avalanche mix. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** First coordinate of deriveSeed for each consumer, so their streams never coincide. */
export const STREAM = { split: 1, sampler: 2, augment: 3 } as const;

/** Throws E_BAD_OPTION unless `seed` is a safe integer (negative values are fine). */
export function checkSeed(seed: number, what = 'seed'): void {
  if (!Number.isSafeInteger(seed)) {
    throw new VisageError('E_BAD_OPTION', `${what} must be an integer, got ${seed}`, { seed });
  }
}

/**
 * A 32-bit seed from a run seed and any number of integer "coordinates" (epoch, batch, slot…). Order matters,
 * and both halves of a 53-bit seed are used so seeds 1 and 2**32 + 1 differ.
 */
export function deriveSeed(seed: number, ...parts: number[]): number {
  checkSeed(seed);
  const lo = seed >>> 0;
  const hi = Math.floor(seed / 4294967296) >>> 0;
  let h = fmix32(lo ^ 0x9e3779b9);
  h = fmix32(h ^ Math.imul(hi + 0x7f4a7c15, 0x27d4eb2d));
  for (const p of parts) h = fmix32((h + Math.imul(p >>> 0, 0x165667b1) + 0x6a09e667) >>> 0);
  return h;
}

/** The seeded generator itself lives with the project's other seeded randomness (src/util/random.ts). */
export { Rng } from '../../util/random.js';
