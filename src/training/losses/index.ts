export type { EmbeddingLoss, LossResult } from './types.js';
export { TripletMarginLoss, type TripletLossOptions } from './triplet.js';
export {
  BinaryPairLoss,
  balancedPairs,
  pairLoss,
  scorePairs,
  trainHeadOnEmbeddings,
  type BinaryPairLossOptions,
  type BinaryPairLossState,
  type PairFeatures,
  type PairHead,
  type PairLossResult,
  type Pairs,
  type TrainHeadOptions,
} from './binary-pair.js';
export {
  PROXY_SOFTMAX_DEFAULTS,
  ProxySoftmaxLoss,
  proxySoftmax,
  type ProxySoftmaxOptions,
  type ProxySoftmaxState,
} from './proxy-softmax.js';
export { WeightedSumLoss } from './weighted-sum.js';
