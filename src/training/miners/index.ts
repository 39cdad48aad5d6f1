export type { Miner, Triplets } from './types.js';
export { batchHardMiner } from './batch-hard.js';
export { batchAllMiner } from './batch-all.js';
export { semiHardMiner } from './semi-hard.js';
export { randomMiner, type RandomMiner } from './random.js';
export { MINING_NAMES, minerByName, tripletOptionsFor, type MiningName } from './by-name.js';
