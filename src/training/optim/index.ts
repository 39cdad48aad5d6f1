export { gradientPair, type GradientParts, type Optimizer, type WeightDecayOptions } from './types.js';
export { Adam, type AdamOptions } from './adam.js';
export { Sgd, type SgdOptions } from './sgd.js';
export { ParameterAverage } from './average.js';
