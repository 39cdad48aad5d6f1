import type { Miner, Triplets } from './types.js';

/**
 * Batch-all mining: every valid triplet of the batch, i.e. every (a, p, n) with label(a) = label(p) ≠
 * label(n) and a ≠ p, in lexicographic (a, p, n) order. Most of them are easy once training is under way,
 * so the loss must average over the active ones only (Hermans et al.'s "BA≠0"): pair this miner with
 * `reduction: 'meanNonZero'` — `tripletOptionsFor('all')` in by-name.ts does. A batch of P identities × K
 * images yields P·K·(K − 1)·(P − 1)·K triplets (2688 for 8 × 4), cheap next to the network.
 */
export const batchAllMiner: Miner = {
  name: 'batchAll',
  mine(dist: Float64Array, labels: ArrayLike<number>, n: number): Triplets {
    const a: number[] = [];
    const p: number[] = [];
    const ng: number[] = [];
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        if (j === i || labels[j] !== labels[i]) continue;
        for (let k = 0; k < n; k++) {
          if (labels[k] === labels[i]) continue;
          a.push(i);
          p.push(j);
          ng.push(k);
        }
      }
    }
    return { anchors: Int32Array.from(a), positives: Int32Array.from(p), negatives: Int32Array.from(ng) };
  },
};
