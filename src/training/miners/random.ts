import { checkSeed, deriveSeed, Rng } from '../data/rng.js';
import type { Miner, Triplets } from './types.js';

/** Keeps this miner's stream apart from the data pipeline's (STREAM in data/rng.ts uses 1–3). */
const RANDOM_MINER_STREAM = 0x6d696e;

/** A random miner; `calls` is its whole state, so a checkpoint can save it and a resumed run set it back. */
export interface RandomMiner extends Miner {
  calls: number;
}

/**
 * Random mining, the baseline the course warns about: for every anchor-positive pair (a ≠ p, same label),
 * one negative drawn uniformly from the batch's other identities — mostly easy, already-satisfied
 * triplets. Call c draws from deriveSeed(seed, stream, c), so runs are reproducible from `seed`, each call
 * gives new negatives, and the draws do not depend on the distances at all.
 */
export function randomMiner(seed: number): RandomMiner {
  checkSeed(seed);
  return {
    name: 'random',
    calls: 0,
    mine(_dist: Float64Array, labels: ArrayLike<number>, n: number): Triplets {
      const rng = new Rng(deriveSeed(seed, RANDOM_MINER_STREAM, this.calls++));
      const a: number[] = [];
      const p: number[] = [];
      const ng: number[] = [];
      const negatives: number[] = [];
      for (let i = 0; i < n; i++) {
        negatives.length = 0;
        for (let k = 0; k < n; k++) if (labels[k] !== labels[i]) negatives.push(k);
        if (negatives.length === 0) continue;
        for (let j = 0; j < n; j++) {
          if (j === i || labels[j] !== labels[i]) continue;
          a.push(i);
          p.push(j);
          ng.push(negatives[rng.int(negatives.length)]);
        }
      }
      return { anchors: Int32Array.from(a), positives: Int32Array.from(p), negatives: Int32Array.from(ng) };
    },
  };
}
