import { VisageError } from '../../errors.js';
import { batchAllMiner } from './batch-all.js';
import { batchHardMiner } from './batch-hard.js';
import { randomMiner } from './random.js';
import { semiHardMiner } from './semi-hard.js';
import type { Miner } from './types.js';

/** The mining strategies of `visage train --mining`. */
export const MINING_NAMES = ['all', 'hard', 'semi-hard', 'random'] as const;
export type MiningName = (typeof MINING_NAMES)[number];

/**
 * The miner for a strategy name. Only `random` uses `seed` (default 0); the others are deterministic
 * functions of the distances. Throws E_BAD_OPTION for an unknown name.
 */
export function minerByName(name: string, opts: { seed?: number } = {}): Miner {
  switch (name as MiningName) {
    case 'all':
      return batchAllMiner;
    case 'hard':
      return batchHardMiner;
    case 'semi-hard':
      return semiHardMiner;
    case 'random':
      return randomMiner(opts.seed ?? 0);
    default:
      throw new VisageError(
        'E_BAD_OPTION',
        `unknown mining strategy '${name}' (expected ${MINING_NAMES.join(', ')})`,
        { name },
      );
  }
}

/**
 * Miner and reduction for TripletMarginLoss: batch-all averages over the active triplets ('meanNonZero'),
 * since averaging over its many easy ones would shrink the gradient towards zero as training progresses;
 * the other strategies average over every mined triplet ('mean'). Usage:
 * `new TripletMarginLoss({ margin, ...tripletOptionsFor('all') })`.
 */
export function tripletOptionsFor(
  name: string,
  opts: { seed?: number } = {},
): { miner: Miner; reduction: 'mean' | 'meanNonZero' } {
  return { miner: minerByName(name, opts), reduction: name === 'all' ? 'meanNonZero' : 'mean' };
}
