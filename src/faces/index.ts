/** Face detection, landmarks, alignment and encoding. */
export type { AlignedFace, DetectedFace, Embedding, FaceBox, Point2 } from './types.js';
export { FacePipeline, type EmbedOptions, type FaceEmbedding, type FacePipelineOptions } from './pipeline.js';
export {
  DLIB_ENCODER_ID,
  GraphFaceEncoder,
  loadDlibEncoder,
  loadGraphEncoder,
  type EncodeOptions,
  type FaceEncoder,
  type GraphEncoderSpec,
} from './encoder.js';
export { SsdFaceDetector, planPasses, type DetectOptions, type Pass } from './detector/ssd-detector.js';
export { LandmarkDetector, landmarkCrop } from './landmarks.js';
export {
  alignFace,
  dlibTemplate,
  extractChip,
  faceChipTransform,
  DLIB_ALIGNMENT_POINTS,
  type ChipOptions,
} from './align.js';
export { faceApiModelDir, loadFaceApiWeights, type FaceApiModelName } from './models/faceapi-weights.js';
