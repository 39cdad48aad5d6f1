/** Loss value and its gradient with respect to every embedding of the batch (n × dim, row-major). */
export interface LossResult {
  loss: number;
  grad: Float32Array;
  /** Diagnostics for logs (e.g. how many triplets were active). */
  stats: Record<string, number>;
}

/**
 * A loss over a batch of embeddings and their integer labels. It sees the whole batch at once (mining
 * needs every embedding), which is why data-parallel training computes it on the main thread.
 */
export interface EmbeddingLoss {
  readonly name: string;
  compute(emb: Float32Array, labels: ArrayLike<number>, dim: number): LossResult;
}
