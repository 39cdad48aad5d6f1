import { weightSpecs } from './shapes.js';
import type { NetworkDef, WeightMap } from './types.js';

/** Small, seedable PRNG (mulberry32) so that training runs are reproducible. */
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

export function gaussian(rand: () => number): () => number {
  return () => {
    const u = Math.max(rand(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
  };
}

/**
 * Fresh weights for training from scratch: He-normal kernels (ReLU networks), zero biases,
 * identity batch-norm / affine.
 */
export function initWeights(def: NetworkDef, input: [number, number, number], seed = 1): WeightMap {
  const normal = gaussian(mulberry32(seed));
  const weights: WeightMap = new Map();
  for (const s of weightSpecs(def, input)) {
    const size = s.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    if (s.role === 'kernel') {
      const std = Math.sqrt(2 / Math.max(1, s.fanIn ?? 1));
      for (let i = 0; i < size; i++) data[i] = normal() * std;
    } else if (s.role === 'gamma' || s.role === 'variance' || s.role === 'scale') {
      data.fill(1);
    }
    weights.set(s.name, { shape: s.shape, data });
  }
  return weights;
}
