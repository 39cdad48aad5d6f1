/** Seeded randomness for reproducible benchmarks, synthetic data and pair sampling. */

/** A small, fast, seedable PRNG (mulberry32) so benchmark and tests are reproducible. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

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
