/**
 * Seeded randomness, once for the whole project: the mulberry32 generator (as a class with helpers and as
 * a plain function) and standard-normal samplers. Every layer that needs reproducible randomness
 * (weight initialisation, benchmarks, pair sampling, the training data pipeline, style transfer) uses these.
 */

/** The mulberry32 generator with helpers; its whole state is one 32-bit number (so it can be saved). */
export class Rng {
  private s: number;

  constructor(seed: number) {
    this.s = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** In-place Fisher–Yates shuffle; returns `a`. */
  shuffle<T extends { length: number; [i: number]: any }>(a: T): T {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return a;
  }

  /** A random permutation of 0..n-1. */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    return this.shuffle(p);
  }
}

/** mulberry32 as a function: uniform in [0, 1), the same stream as `new Rng(seed).next()`. */
export function mulberry32(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}

/**
 * Standard normal samples by Box–Muller, one per two uniforms (cosine branch only): the sampler of weight
 * initialisation and style transfer's noise.
 */
export function gaussian(rand: () => number): () => number {
  return () => {
    const u = Math.max(rand(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
  };
}

/**
 * Standard normal samples by Box–Muller, using both values of each pair (benchmarks, synthetic
 * embeddings, pair sampling).
 */
export function gaussianPaired(rand: () => number): () => number {
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
