import { gaussian, mulberry32 } from '../../src/util/random.js';

/** n unit vectors of size dim (seeded), row-major: embeddings for loss and miner tests. */
export function unitRows(n: number, dim: number, seed: number): Float32Array {
  const g = gaussian(mulberry32(seed));
  const e = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let k = 0; k < dim; k++) s += (e[i * dim + k] = g()) ** 2;
    for (let k = 0; k < dim; k++) e[i * dim + k] /= Math.sqrt(s);
  }
  return e;
}
