/**
 * RgbImage ↔ tf.Tensor, NHWC float32. Normalisation: value = (pixel · scale − mean[c]) / std[c], with
 * scale 1/255, mean 0, std 1 by default (i.e. pixels in [0, 1]). ImageNet-style networks pass
 * { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] }; VGG/Caffe-style ones pass
 * { scale: 1, mean: [123.68, 116.779, 103.939] }. The pixel arithmetic runs in JS, so no intermediate
 * tensors are created (nothing to dispose except the result).
 */
import * as tf from '@tensorflow/tfjs-core';
import { VisageError } from '../errors.js';
import { assertRgbImage, type RgbImage } from './rgb.js';

export interface TensorNormalization {
  /** Multiplier applied to the 0..255 pixel first. Default 1/255. */
  scale?: number;
  /** Subtracted after scaling; one value per channel (or one for all). Default 0. */
  mean?: readonly number[];
  /** Divides after subtracting the mean; one per channel (or one for all). Default 1. */
  std?: readonly number[];
}

export interface ImageToTensorOptions extends TensorNormalization {
  dtype?: 'float32';
  /** Only NHWC exists here: it is what tfjs convolutions use. */
  layout?: 'NHWC';
  /** 3 (RGB, default) or 1 (BT.601 luma, for greyscale models such as those trained on ORL). */
  channels?: 1 | 3;
}

interface Norm {
  scale: number;
  mean: Float64Array;
  std: Float64Array;
  channels: 1 | 3;
}

function resolveNorm(opts: ImageToTensorOptions): Norm {
  const channels = opts.channels ?? 3;
  if (channels !== 1 && channels !== 3)
    throw new VisageError('E_BAD_OPTION', `channels must be 1 or 3, got ${channels}`);
  if (opts.dtype !== undefined && opts.dtype !== 'float32') {
    throw new VisageError('E_BAD_OPTION', `only float32 image tensors are supported, got ${opts.dtype}`);
  }
  if (opts.layout !== undefined && opts.layout !== 'NHWC') {
    throw new VisageError('E_BAD_OPTION', `only NHWC layout is supported, got ${opts.layout}`);
  }
  const scale = opts.scale ?? 1 / 255;
  const perChannel = (v: readonly number[] | undefined, dflt: number, name: string): Float64Array => {
    if (v === undefined) return new Float64Array(channels).fill(dflt);
    if (v.length === 1) return new Float64Array(channels).fill(v[0]);
    if (v.length !== channels) {
      throw new VisageError('E_BAD_OPTION', `${name} needs 1 or ${channels} values, got ${v.length}`);
    }
    return Float64Array.from(v);
  };
  const mean = perChannel(opts.mean, 0, 'mean');
  const std = perChannel(opts.std, 1, 'std');
  if (!Number.isFinite(scale) || scale === 0 || !std.every((s) => Number.isFinite(s) && s !== 0)) {
    throw new VisageError('E_BAD_OPTION', 'scale and std must be finite and non-zero');
  }
  return { scale, mean, std, channels };
}

/** Writes the normalised pixels of `img` into `out` at `offset`. */
function fill(img: RgbImage, norm: Norm, out: Float32Array, offset: number): void {
  const d = img.data;
  const n = img.width * img.height;
  // Per channel: value = pixel · k[c] + b[c].
  const k = Array.from(norm.std, (s) => norm.scale / s);
  const b = Array.from(norm.std, (s, c) => -norm.mean[c] / s);
  if (norm.channels === 3) {
    for (let i = 0, o = offset; i < n * 3; i += 3, o += 3) {
      out[o] = d[i] * k[0] + b[0];
      out[o + 1] = d[i + 1] * k[1] + b[1];
      out[o + 2] = d[i + 2] * k[2] + b[2];
    }
  } else {
    for (let i = 0, j = 0; i < n; i++, j += 3) {
      const luma = Math.round(0.299 * d[j] + 0.587 * d[j + 1] + 0.114 * d[j + 2]);
      out[offset + i] = luma * k[0] + b[0];
    }
  }
}

/** One image as a [h, w, c] tensor (c = 3, or 1 with `channels: 1`). */
export function imageToTensor(img: RgbImage, opts: ImageToTensorOptions = {}): tf.Tensor3D {
  assertRgbImage(img);
  const norm = resolveNorm(opts);
  const out = new Float32Array(img.width * img.height * norm.channels);
  fill(img, norm, out, 0);
  return tf.tensor3d(out, [img.height, img.width, norm.channels], 'float32');
}

/** Equal-sized images as one NHWC float batch in host memory (what the onnx engine is fed). */
export function imagesToArray(
  imgs: readonly RgbImage[],
  opts: ImageToTensorOptions = {},
): { data: Float32Array; shape: [number, number, number, number] } {
  if (imgs.length === 0) throw new VisageError('E_BAD_INPUT', 'imagesToBatch needs at least one image');
  const norm = resolveNorm(opts);
  const { width, height } = imgs[0];
  const per = width * height * norm.channels;
  const out = new Float32Array(per * imgs.length);
  imgs.forEach((img, i) => {
    assertRgbImage(img, `image ${i}`);
    if (img.width !== width || img.height !== height) {
      throw new VisageError(
        'E_BAD_INPUT',
        `imagesToBatch: image ${i} is ${img.width}×${img.height}, expected ${width}×${height} like image 0`,
      );
    }
    fill(img, norm, out, i * per);
  });
  return { data: out, shape: [imgs.length, height, width, norm.channels] };
}

/** Equal-sized images as one [n, h, w, c] batch. */
export function imagesToBatch(imgs: readonly RgbImage[], opts: ImageToTensorOptions = {}): tf.Tensor4D {
  const { data, shape } = imagesToArray(imgs, opts);
  return tf.tensor4d(data, shape, 'float32');
}

function toImageData(
  values: ArrayLike<number>,
  offset: number,
  h: number,
  w: number,
  c: number,
  norm: Norm,
): RgbImage {
  const data = new Uint8Array(w * h * 3);
  const n = w * h;
  for (let i = 0; i < n; i++) {
    for (let ch = 0; ch < 3; ch++) {
      const cc = c === 1 ? 0 : ch;
      const v = (values[offset + i * c + cc] * norm.std[cc] + norm.mean[cc]) / norm.scale;
      // NaN → 0 rather than poisoning the output.
      data[i * 3 + ch] = v >= 255 ? 255 : v > 0 ? Math.round(v) : 0;
    }
  }
  return { width: w, height: h, data };
}

function shapeOf(t: tf.Tensor): { n: number; h: number; w: number; c: number } {
  const s = t.shape;
  const [n, h, w, c] = s.length === 3 ? [1, s[0], s[1], s[2]] : s.length === 4 ? s : [0, 0, 0, 0];
  if ((s.length !== 3 && s.length !== 4) || (c !== 1 && c !== 3)) {
    throw new VisageError(
      'E_BAD_INPUT',
      `expected an image tensor [h, w, 1|3] or [n, h, w, 1|3], got [${s.join(', ')}]`,
    );
  }
  return { n, h, w, c };
}

/**
 * Tensor → image, undoing the same normalisation (pass the options used for imageToTensor), clamped to
 * 0..255 and rounded. Accepts [h, w, c] or [1, h, w, c] with c = 1 (replicated to grey RGB) or 3.
 * Reads synchronously; does not dispose `t`.
 */
export function tensorToImage(t: tf.Tensor, opts: TensorNormalization = {}): RgbImage {
  const { n, h, w, c } = shapeOf(t);
  if (n !== 1)
    throw new VisageError('E_BAD_INPUT', `tensorToImage takes one image; use batchToImages for ${n}`);
  return toImageData(t.dataSync(), 0, h, w, c, resolveNorm({ ...opts, channels: c === 1 ? 1 : 3 }));
}

/** [n, h, w, c] → n images, as tensorToImage. Does not dispose `t`. */
export function batchToImages(t: tf.Tensor, opts: TensorNormalization = {}): RgbImage[] {
  const { n, h, w, c } = shapeOf(t);
  const values = t.dataSync();
  const norm = resolveNorm({ ...opts, channels: c === 1 ? 1 : 3 });
  return Array.from({ length: n }, (_, i) => toImageData(values, i * h * w * c, h, w, c, norm));
}
