export type { EmbeddingLoss, LossResult } from './types.js';
export { TripletMarginLoss, type TripletLossOptions } from './triplet.js';
