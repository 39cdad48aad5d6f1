import { weightSpecs } from './shapes.js';
import type { NetworkDef, WeightMap } from './types.js';
import { gaussian, mulberry32 } from '../../util/random.js';

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
