/** Training data: identity folders → split → PK batches → cached, augmented, normalised float batches. */
export { naturalCompare } from '../../eval/natural-sort.js';
export {
  scanIdentityFolders,
  countImages,
  IMAGE_EXTENSIONS,
  type Identity,
  type IdentityDataset,
  type ScanOptions,
} from '../../eval/scan.js';
export { splitByIdentity, type SplitOptions, type DatasetSplit } from './split.js';
export {
  PKSampler,
  type PKSamplerOptions,
  type PKSamplerState,
  type PKBatch,
  type EpochLength,
  type SamplerIdentity,
} from './pk-sampler.js';
export {
  FaceImageSource,
  centreCropResize,
  padResize,
  type FitMode,
  type AlignFn,
  type FaceImageSourceOptions,
  type FaceImageSourceStats,
} from './image-source.js';
export {
  augmentInto,
  augmentMatrix,
  augmentSeed,
  augmentSpec,
  AUGMENT_NAMES,
  sampleAugmentParams,
  resolveAugment,
  warpReplicate,
  DEFAULT_AUGMENT,
  PIXEL_SCALE,
  PIXEL_OFFSET,
  type AugmentOptions,
  type AugmentParams,
} from './augment.js';
export {
  gatherInput,
  batchIndices,
  buildBatch,
  batchTensor,
  mirrorImages,
  TRAINING_NORMALIZATION,
  type InputBatch,
  type InputOptions,
} from './batch.js';
export { Rng, deriveSeed, checkSeed } from './rng.js';
