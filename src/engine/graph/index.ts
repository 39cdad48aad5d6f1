export * from './types.js';
export { inferShapes, weightSpecs, type WeightSpec } from './shapes.js';
export { forwardFlops } from './flops.js';
export { initWeights } from './init.js';
export { TfjsNetwork, type ForwardOptions } from './tfjs-executor.js';
export { foldBatchNorm } from './fold.js';
export { fuseConvAffineActivation } from './fuse.js';
export { saveModel, loadModel, type SavedModel } from './serialize.js';
