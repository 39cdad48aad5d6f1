import type { Distance } from './types.js';

function squaredPairwise(emb: Float32Array, n: number, dim: number): Float64Array {
  const d = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      let s = 0;
      for (let k = 0; k < dim; k++) {
        const t = emb[i * dim + k] - emb[j * dim + k];
        s += t * t;
      }
      d[i * n + j] = s;
      d[j * n + i] = s;
    }
  }
  return d;
}

function addDiff(
  emb: Float32Array,
  dim: number,
  i: number,
  j: number,
  scale: number,
  grad: Float64Array,
): void {
  for (let k = 0; k < dim; k++) {
    const t = scale * (emb[i * dim + k] - emb[j * dim + k]);
    grad[i * dim + k] += t;
    grad[j * dim + k] -= t;
  }
}

/** ‖a − b‖², FaceNet's choice: on unit vectors it lies in [0, 4] and equals 2 − 2·cos. */
export const squaredEuclidean: Distance = {
  name: 'squaredEuclidean',
  pairwise: squaredPairwise,
  backward(emb, dim, i, j, _d, g, grad) {
    addDiff(emb, dim, i, j, 2 * g, grad);
  },
};

/** ‖a − b‖ (pytorch-metric-learning's default LpDistance); its gradient is capped near d = 0. */
export const euclidean: Distance = {
  name: 'euclidean',
  pairwise(emb, n, dim) {
    const d = squaredPairwise(emb, n, dim);
    for (let i = 0; i < d.length; i++) d[i] = Math.sqrt(d[i]);
    return d;
  },
  backward(emb, dim, i, j, d, g, grad) {
    addDiff(emb, dim, i, j, g / Math.max(d, 1e-8), grad);
  },
};
