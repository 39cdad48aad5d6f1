import type { Miner, Triplets } from './types.js';

/**
 * Batch-hard mining (Hermans, Beyer & Leibe 2017, "In Defense of the Triplet Loss"): for every anchor,
 * its farthest positive and its nearest negative in the batch. Anchors without a positive or a negative
 * in the batch give no triplet. Ties go to the lowest index, so results are deterministic.
 */
export const batchHardMiner: Miner = {
  name: 'batchHard',
  mine(dist: Float64Array, labels: ArrayLike<number>, n: number): Triplets {
    const a: number[] = [];
    const p: number[] = [];
    const ng: number[] = [];
    for (let i = 0; i < n; i++) {
      let hardP = -1;
      let hardN = -1;
      for (let j = 0; j < n; j++) {
        if (j === i) continue;
        const d = dist[i * n + j];
        if (labels[j] === labels[i]) {
          if (hardP < 0 || d > dist[i * n + hardP]) hardP = j;
        } else if (hardN < 0 || d < dist[i * n + hardN]) hardN = j;
      }
      if (hardP >= 0 && hardN >= 0) {
        a.push(i);
        p.push(hardP);
        ng.push(hardN);
      }
    }
    return { anchors: Int32Array.from(a), positives: Int32Array.from(p), negatives: Int32Array.from(ng) };
  },
};
