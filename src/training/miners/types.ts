/** Index triplets (anchor, positive, negative) chosen from a batch, as in pytorch-metric-learning. */
export interface Triplets {
  anchors: Int32Array;
  positives: Int32Array;
  negatives: Int32Array;
}

/**
 * A miner picks the triplets a loss is computed over, from the batch's distance matrix (n × n, smaller
 * is more similar) and labels. Mining is not differentiated: the chosen indices are constants.
 */
export interface Miner {
  readonly name: string;
  mine(dist: Float64Array, labels: ArrayLike<number>, n: number): Triplets;
}
