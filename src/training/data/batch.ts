/**
 * Network input from the image cache: NHWC float32, pixels normalised as (x/255 − 0.5)/0.5 ∈ [−1, 1]
 * (zero-centred inputs suit a from-scratch CNN with batch norm; the same mapping is exported as
 * TRAINING_NORMALIZATION for imageToTensor, so inference with a trained model sees identical values).
 */
import * as tf from '@tensorflow/tfjs-core';
import { VisageError } from '../../errors.js';
import type { TensorNormalization } from '../../image/index.js';
import {
  augmentInto,
  augmentSeed,
  PIXEL_OFFSET,
  PIXEL_SCALE,
  resolveAugment,
  sampleAugmentParams,
  type AugmentOptions,
} from './augment.js';
import type { FaceImageSource } from './image-source.js';
import type { PKBatch } from './pk-sampler.js';
import { Rng } from './rng.js';

/** imageToTensor / imagesToBatch options giving exactly the values used in training. */
export const TRAINING_NORMALIZATION: TensorNormalization = {
  scale: PIXEL_SCALE,
  mean: [-PIXEL_OFFSET],
  std: [1],
};

export interface InputOptions {
  /** Augmentation settings, or false/undefined for none (validation, embedding). */
  augment?: AugmentOptions | false;
  /** Run seed (augmentation only). Default 0. */
  seed?: number;
  /** Global batch number (augmentation only): with the seed and slot it fixes each image's draw. */
  batchIndex?: number;
}

export interface InputBatch {
  /** n·h·w·c floats, NHWC. */
  images: Float32Array;
  /** Identity index of each image. */
  labels: Int32Array;
  shape: [number, number, number, number];
}

/** The images at flat `indices` of `source` as one NHWC float batch (augmented if asked). */
export function gatherInput(
  source: FaceImageSource,
  indices: ArrayLike<number>,
  opts: InputOptions = {},
): InputBatch {
  const n = indices.length;
  const { width: w, height: h, channels: c, pixelCount: per } = source;
  const images = new Float32Array(n * per);
  const labels = new Int32Array(n);
  const aug = opts.augment ? resolveAugment(opts.augment) : null;
  const seed = opts.seed ?? 0;
  const batchIndex = opts.batchIndex ?? 0;
  const scratch = aug ? new Float32Array(per) : null;
  for (let i = 0; i < n; i++) {
    const index = indices[i];
    const px = source.image(index);
    labels[i] = source.labelOf(index);
    if (aug && scratch) {
      const params = sampleAugmentParams(new Rng(augmentSeed(seed, batchIndex, i)), aug, w, h);
      augmentInto(px, w, h, c, params, images, i * per, scratch);
    } else {
      for (let j = 0, o = i * per; j < per; j++, o++) images[o] = px[j] * PIXEL_SCALE + PIXEL_OFFSET;
    }
  }
  return { images, labels, shape: [n, h, w, c] };
}

/** Each of the n NHWC images of `images` mirrored left–right (column x ↔ w − 1 − x), as a new array. */
export function mirrorImages(images: Float32Array, n: number, h: number, w: number, c: number): Float32Array {
  if (images.length !== n * h * w * c)
    throw new VisageError('E_INTERNAL', `${images.length} values for ${n}×${h}×${w}×${c}`);
  const out = new Float32Array(images.length);
  for (let row = 0; row < n * h; row++) {
    const base = row * w * c;
    for (let x = 0; x < w; x++) {
      const from = base + x * c;
      const to = base + (w - 1 - x) * c;
      for (let k = 0; k < c; k++) out[to + k] = images[from + k];
    }
  }
  return out;
}

/** Flat image indices of a sampler batch in `source` (which must hold the sampler's identities, same order). */
export function batchIndices(source: FaceImageSource, batch: PKBatch): Int32Array {
  if (batch.labels.length !== batch.images.length) {
    throw new VisageError('E_BAD_INPUT', 'batch labels and images differ in length');
  }
  const out = new Int32Array(batch.labels.length);
  for (let i = 0; i < out.length; i++) out[i] = source.indexOf(batch.labels[i], batch.images[i]);
  return out;
}

/**
 * A PK batch as floats + labels, ready for TrainingStep.step(images, labels). Augmentation (if on) is
 * seeded by (seed, batch.index, slot), so it is reproducible and identical after --resume.
 */
export function buildBatch(
  source: FaceImageSource,
  batch: PKBatch,
  opts: { augment?: AugmentOptions | false; seed?: number } = {},
): InputBatch {
  return gatherInput(source, batchIndices(source, batch), { ...opts, batchIndex: batch.index });
}

/** buildBatch as a [n, h, w, c] float32 tensor (the caller disposes it) plus the labels. */
export function batchTensor(
  source: FaceImageSource,
  batch: PKBatch,
  opts: { augment?: AugmentOptions | false; seed?: number } = {},
): { images: tf.Tensor4D; labels: Int32Array } {
  const b = buildBatch(source, batch, opts);
  return { images: tf.tensor4d(b.images, b.shape, 'float32'), labels: b.labels };
}
