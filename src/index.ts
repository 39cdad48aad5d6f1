/**
 * Visage, the package entry: the user's verbs and their types, nothing else (engine and graph internals
 * are behind `visage/engine`).
 *
 *   import { Visage } from 'visage';
 *   const v = new Visage({ gallery: 'people.sqlite' });
 *   await v.enroll('alice', 'alice.jpg');                        // one photo is enough
 *   const { faces } = await v.identify('party.jpg');             // faces[i].match: { name, … } | null
 *   const { same, distance, confidence } = await v.verify('a.jpg', 'b.jpg');
 *   await v.close();
 *
 * Distances are d = ‖f(a) − f(b)‖² between unit-length 128-D embeddings, in [0, 4]; two faces are the same
 * person when d ≤ τ. The default τ is calibrated per model (models/calibration.json, about 0.14 for the
 * dlib ResNet-34): lower it for fewer false accepts, raise it for fewer false rejects.
 */

// Faces: verification (1:1), one-shot enrollment and recognition (1:K), embeddings, detection.
export {
  Visage,
  VisageOptionsSchema,
  VerifyOptionsSchema,
  IdentifyOptionsSchema,
  PersonNameSchema,
  assignOneToOne,
  type ImageInput,
  type VisageOptions,
  type VerifyOptions,
  type IdentifyOptions,
  type VerifyResult,
  type IdentifyResult,
  type IdentifiedFace,
  type FaceMatch,
  type EnrollResult,
  type EmbedResult,
  type DetectResult,
  type FaceReport,
  type UsedFace,
} from './api.js';
export type { FaceEncoder, EncodeOptions } from './faces/encoder.js';
export type { DetectedFace, FaceBox, Point2, Embedding } from './faces/types.js';
export type { RgbImage } from './image/rgb.js';
export { decodeImage, type DecodeOptions } from './image/decode.js';

// The gallery: one SQLite file of people and their embeddings, exact 1:K search.
export {
  Gallery,
  type GalleryOptions,
  type PersonInfo,
  type SearchMatch,
  type SearchResult,
  type EnrollResult as GalleryEnrollResult,
} from './store/gallery.js';

// Evaluation and calibration on labelled photos (LFW protocol, one-shot identification, τ for a FAR).
export {
  evaluatePairList,
  evaluateIdentify,
  calibrateThreshold,
  type PairsEvaluation,
  type IdentifyEvaluation,
} from './eval/evaluate.js';
export { loadPairs, makePairs, type PairList, type ImagePair } from './eval/pairs.js';
export {
  loadCalibration,
  saveCalibration,
  shippedCalibrationFile,
  userCalibrationFile,
  type CalibrationFile,
} from './faces/calibration.js';

// Training your own Siamese encoder (triplet loss on online-mined triplets, or the binary pair head).
export {
  train,
  TRAIN_DEFAULTS,
  type TrainOptions,
  type TrainSettings,
  type TrainHooks,
  type TrainResult,
  type TrainEpoch,
} from './training/trainer.js';

// Neural style transfer (Gatys).
export {
  stylize,
  STYLE_DEFAULTS,
  type StylizeOptions,
  type StylizeResult,
  type StyleProgress,
} from './style/index.js';

// Errors: one type, stable codes (see ErrorCode), CLI exit codes 1 usage / 2 input / 3 internal.
export { VisageError, isVisageError, exitCodeFor, type ErrorCode } from './errors.js';
