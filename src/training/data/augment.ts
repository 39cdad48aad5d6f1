/**
 * Training-time augmentation on the cached training-size pixels: horizontal flip, a small random
 * zoom/translation ("random crop") and rotation, all fused into ONE bilinear resample with replicated
 * borders, then brightness/contrast jitter. The output is written straight into the float batch, already
 * normalised, so an augmented batch costs one pass over its pixels.
 *
 * Determinism: the random parameters of slot `slot` in global batch `batchIndex` come from
 * augmentSeed(seed, batchIndex, slot) alone, so a resumed run augments exactly as the uninterrupted one.
 */
import type { AffineMatrix } from '../../image/index.js';
import { VisageError } from '../../errors.js';
import { deriveSeed, Rng, STREAM } from './rng.js';

export interface AugmentOptions {
  /** Mirror left↔right with probability ½. Default true. */
  flip?: boolean;
  /** Largest rotation, degrees (uniform in ±). Default 10. */
  rotationDeg?: number;
  /** Largest shift as a fraction of the width/height (uniform in ±, per axis). Default 0.06. */
  translate?: number;
  /** Largest zoom change: the scale is uniform in [1 − s, 1 + s]; zooming in acts as a random crop. Default 0.06. */
  scale?: number;
  /** Largest brightness shift, as a fraction of the full 0…255 range (uniform in ±). Default 0.1. */
  brightness?: number;
  /** Largest contrast change: pixels move away from/towards the image mean by a factor in [1 − c, 1 + c]. Default 0.15. */
  contrast?: number;
  /**
   * Probability of random erasing: one rectangle (2–25 % of the image, aspect 1:2…2:1) painted mid-grey, so the
   * network cannot lean on any one region (glasses, a fringe, a shadow). Default 0 (off).
   */
  erase?: number;
}

/** One image's draw of the random parameters. */
export interface AugmentParams {
  flip: boolean;
  /** Radians (image y axis points down). */
  angle: number;
  /** Shift in output pixels. */
  dx: number;
  dy: number;
  /** > 1 zooms in. */
  scale: number;
  /** Added to the [0, 1] pixel value. */
  brightness: number;
  /** Contrast factor around the image mean. */
  contrast: number;
  /** The erased rectangle in output pixels (x0 ≤ x < x1, y0 ≤ y < y1), or null. */
  erase: { x0: number; y0: number; x1: number; y1: number } | null;
}

export const DEFAULT_AUGMENT: Required<AugmentOptions> = {
  flip: true,
  rotationDeg: 10,
  translate: 0.06,
  scale: 0.06,
  brightness: 0.1,
  contrast: 0.15,
  erase: 0,
};

/** User-facing names (`visage train --augment`, the report) → AugmentOptions keys: a shift, a zoom. */
export const AUGMENT_NAMES = {
  flip: 'flip',
  rotation: 'rotationDeg',
  shift: 'translate',
  zoom: 'scale',
  brightness: 'brightness',
  contrast: 'contrast',
  erase: 'erase',
} as const satisfies Record<string, keyof AugmentOptions>;

/** Resolved options in the `--augment` spelling, e.g. flip=1,rotation=10,… */
export function augmentSpec(a: Required<AugmentOptions>): string {
  return Object.entries(AUGMENT_NAMES)
    .map(([name, key]) => `${name}=${key === 'flip' ? (a.flip ? 1 : 0) : a[key]}`)
    .join(',');
}

/** Fills in defaults and checks ranges (E_BAD_OPTION). */
export function resolveAugment(opts: AugmentOptions = {}): Required<AugmentOptions> {
  const r = { ...DEFAULT_AUGMENT, ...opts };
  const limits: [keyof AugmentOptions, number][] = [
    ['rotationDeg', 45],
    ['translate', 0.5],
    ['scale', 0.5],
    ['brightness', 1],
    ['contrast', 1],
    ['erase', 1],
  ];
  for (const [k, max] of limits) {
    const v = r[k] as number;
    if (!Number.isFinite(v) || v < 0 || v > max) {
      const name = Object.entries(AUGMENT_NAMES).find(([, key]) => key === k)?.[0] ?? k;
      throw new VisageError('E_BAD_OPTION', `augmentation ${name} must be in 0…${max}, got ${v}`);
    }
  }
  return r;
}

/** The seed of one image's augmentation. */
export function augmentSeed(seed: number, batchIndex: number, slot: number): number {
  return deriveSeed(seed, STREAM.augment, batchIndex, slot);
}

/** Draws parameters (always the same number of draws, so streams stay aligned whatever is switched off). */
export function sampleAugmentParams(
  rng: Rng,
  opts: Required<AugmentOptions>,
  width: number,
  height: number,
): AugmentParams {
  const u = () => 2 * rng.next() - 1;
  const flip = rng.next() < 0.5;
  const angle = (u() * opts.rotationDeg * Math.PI) / 180;
  const dx = u() * opts.translate * width;
  const dy = u() * opts.translate * height;
  const scale = 1 + u() * opts.scale;
  const brightness = u() * opts.brightness;
  const contrast = 1 + u() * opts.contrast;
  // Drawn last, so that adding erasing left every earlier draw (and so older runs) unchanged.
  const doErase = rng.next() < opts.erase;
  const area = (0.02 + rng.next() * 0.23) * width * height;
  const aspect = Math.exp((2 * rng.next() - 1) * Math.LN2);
  const ew = Math.min(width, Math.max(1, Math.round(Math.sqrt(area * aspect))));
  const eh = Math.min(height, Math.max(1, Math.round(Math.sqrt(area / aspect))));
  const x0 = Math.floor(rng.next() * (width - ew + 1));
  const y0 = Math.floor(rng.next() * (height - eh + 1));
  const erase = doErase ? { x0, y0, x1: x0 + ew, y1: y0 + eh } : null;
  return { flip: opts.flip && flip, angle, dx, dy, scale, brightness, contrast, erase };
}

/**
 * The inverse map (output pixel → input position, pixel-centre convention of src/image/affine.ts) of
 * "flip, scale and rotate about the centre, then shift".
 */
export function augmentMatrix(p: AugmentParams, width: number, height: number): AffineMatrix {
  const cx = (width - 1) / 2;
  const cy = (height - 1) / 2;
  // Forward: out = C + s·R·F·(in − C) + d; inverse: in = C + F·Rᵀ·(out − C − d)/s (F is its own inverse).
  const c = Math.cos(p.angle) / p.scale;
  const s = Math.sin(p.angle) / p.scale;
  const f = p.flip ? -1 : 1;
  // Rᵀ/s = [[c, s], [−s, c]]; then F negates the first row.
  const a = f * c;
  const b = f * s;
  const d = -s;
  const e = c;
  const ox = cx + p.dx;
  const oy = cy + p.dy;
  return [
    [a, b, cx - a * ox - b * oy],
    [d, e, cy - d * ox - e * oy],
  ];
}

/**
 * Bilinear resample of interleaved `channels`-channel pixels with replicated borders (as warpAffine with
 * border 'replicate', but any channel count and float output, unrounded). `m` maps output → input.
 */
export function warpReplicate(
  src: ArrayLike<number>,
  width: number,
  height: number,
  channels: number,
  m: AffineMatrix,
  out: Float32Array,
  outWidth = width,
  outHeight = height,
): void {
  const [[a, b, c], [d, e, f]] = m;
  const maxX = width - 1;
  const maxY = height - 1;
  const stride = width * channels;
  let o = 0;
  for (let y = 0; y < outHeight; y++) {
    // Incremental source position along the row (as src/image's warpAffine).
    let rx = b * y + c;
    let ry = e * y + f;
    for (let x = 0; x < outWidth; x++, rx += a, ry += d) {
      // Clamping the position is exactly replicate-border bilinear interpolation.
      const sx = rx < 0 ? 0 : rx > maxX ? maxX : rx;
      const sy = ry < 0 ? 0 : ry > maxY ? maxY : ry;
      const x0 = sx | 0;
      const y0 = sy | 0;
      const fx = sx - x0;
      const fy = sy - y0;
      const dx = x0 < maxX ? channels : 0;
      const dy = y0 < maxY ? stride : 0;
      const p = y0 * stride + x0 * channels;
      if (channels === 1) {
        const top = src[p] + fx * (src[p + dx] - src[p]);
        const bottom = src[p + dy] + fx * (src[p + dy + dx] - src[p + dy]);
        out[o++] = top + fy * (bottom - top);
        continue;
      }
      for (let ch = 0; ch < channels; ch++, o++) {
        const q = p + ch;
        const top = src[q] + fx * (src[q + dx] - src[q]);
        const bottom = src[q + dy] + fx * (src[q + dy + dx] - src[q + dy]);
        out[o] = top + fy * (bottom - top);
      }
    }
  }
}

/** Pixel (0…255) → network input: (x/255 − 0.5)/0.5, i.e. [−1, 1]. */
export const PIXEL_SCALE = 2 / 255;
export const PIXEL_OFFSET = -1;

/**
 * Augments one image (8-bit, h·w·c) into `out` at `offset`, normalised to [−1, 1]. `scratch` (h·w·c floats)
 * avoids an allocation per image.
 */
export function augmentInto(
  src: Uint8Array,
  width: number,
  height: number,
  channels: number,
  params: AugmentParams,
  out: Float32Array,
  offset: number,
  scratch: Float32Array = new Float32Array(width * height * channels),
): void {
  const n = width * height * channels;
  warpReplicate(src, width, height, channels, augmentMatrix(params, width, height), scratch);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += scratch[i];
  // Work in [0, 1]: y = clamp((x − mean)·contrast + mean + brightness, 0, 1), then 2y − 1.
  const mean = sum / n / 255;
  const k = params.contrast / 255;
  const b = mean * (1 - params.contrast) + params.brightness;
  for (let i = 0; i < n; i++) {
    let y = scratch[i] * k + b;
    y = y < 0 ? 0 : y > 1 ? 1 : y;
    out[offset + i] = 2 * y - 1;
  }
  const e = params.erase;
  if (e)
    for (let y = e.y0; y < e.y1; y++)
      out.fill(0, offset + (y * width + e.x0) * channels, offset + (y * width + e.x1) * channels);
}
