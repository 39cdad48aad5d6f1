/**
 * Distances between embeddings, after pytorch-metric-learning's `distances` module: a loss asks one for
 * the batch's pairwise matrix and for the gradient of chosen entries. Embeddings are row-major
 * (n × dim) Float32Arrays; matrices and gradients accumulate in float64 (they are small).
 */
export interface Distance {
  readonly name: string;
  /** n × n matrix, row-major; smaller means more similar. */
  pairwise(emb: Float32Array, n: number, dim: number): Float64Array;
  /** grad[i·dim…] and grad[j·dim…] += g · ∂d(i, j)/∂emb, given d(i, j) as computed by pairwise. */
  backward(
    emb: Float32Array,
    dim: number,
    i: number,
    j: number,
    d: number,
    g: number,
    grad: Float64Array,
  ): void;
}
