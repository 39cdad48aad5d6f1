export type { Miner, Triplets } from './types.js';
export { batchHardMiner } from './batch-hard.js';
