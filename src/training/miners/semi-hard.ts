import type { Miner, Triplets } from './types.js';

/**
 * Semi-hard mining (Schroff et al. 2015, FaceNet): for every anchor-positive pair (a ≠ p, same label), the
 * closest negative that is still strictly farther from the anchor than the positive, d(a, n) > d(a, p).
 * When no such negative exists the pair falls back to the hardest (closest) negative, as the issue asks
 * (TensorFlow Addons' `triplet_semihard_loss` falls back to the farthest one instead). FaceNet also bounds
 * d(a, n) < d(a, p) + α; that bound is not applied here: when the closest farther negative lies beyond it,
 * the triplet is simply inactive (zero loss), so the miner needs no margin.
 * Ties go to the lowest index; anchors without a positive or without a negative give no triplet.
 */
export const semiHardMiner: Miner = {
  name: 'semiHard',
  mine(dist: Float64Array, labels: ArrayLike<number>, n: number): Triplets {
    const a: number[] = [];
    const p: number[] = [];
    const ng: number[] = [];
    for (let i = 0; i < n; i++) {
      const row = i * n;
      for (let j = 0; j < n; j++) {
        if (j === i || labels[j] !== labels[i]) continue;
        const dap = dist[row + j];
        let semi = -1;
        let hard = -1;
        for (let k = 0; k < n; k++) {
          if (labels[k] === labels[i]) continue;
          const d = dist[row + k];
          if (hard < 0 || d < dist[row + hard]) hard = k;
          if (d > dap && (semi < 0 || d < dist[row + semi])) semi = k;
        }
        if (hard < 0) continue;
        a.push(i);
        p.push(j);
        ng.push(semi >= 0 ? semi : hard);
      }
    }
    return { anchors: Int32Array.from(a), positives: Int32Array.from(p), negatives: Int32Array.from(ng) };
  },
};
