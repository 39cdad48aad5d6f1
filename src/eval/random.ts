/** Seeded randomness for reproducible benchmarks, synthetic data and pair sampling. */

/** The seedable PRNG the whole project uses (one implementation, in the engine's initialiser). */
export { mulberry32 } from '../engine/graph/init.js';

/** Standard normal samples by Box–Muller. */
export function gaussian(rand: () => number): () => number {
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const s = spare;
      spare = undefined;
      return s;
    }
    const u = 1 - rand();
    const v = rand();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}

/** A uniformly random direction in R^dim (normalised Gaussian), as float32. */
export function randomUnitVector(normal: () => number, dim: number): Float32Array {
  const v = new Float64Array(dim);
  let ss = 0;
  for (let j = 0; j < dim; j++) {
    v[j] = normal();
    ss += v[j] * v[j];
  }
  const inv = 1 / Math.sqrt(ss);
  const out = new Float32Array(dim);
  for (let j = 0; j < dim; j++) out[j] = v[j] * inv;
  return out;
}
