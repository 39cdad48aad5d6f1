/**
 * Resize, crop and flip on plain Uint8Arrays. Coordinates follow one convention throughout src/image:
 * pixel (i, j) covers the unit square [i, i+1) × [j, j+1) and its centre is at (i + 0.5, j + 0.5) in
 * "edge" coordinates, or exactly (i, j) in the "centre" coordinates that warpAffine and landmarks use.
 */
import { VisageError } from '../errors.js';
import { assertRgbImage, type Rgb, type RgbImage } from './rgb.js';

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface ResizeOptions {
  /**
   * Widen the bilinear (triangle) filter by the downscale factor so every input pixel contributes, like
   * PIL's BILINEAR and area averaging. Without it a 10× shrink samples 1 pixel in 100 and aliases.
   * Default true. Has no effect when enlarging.
   */
  antialias?: boolean;
}

/** Per output index: first input index, tap count, and normalised weights (maxTaps per output). */
interface Taps {
  start: Int32Array;
  count: Int32Array;
  weights: Float32Array;
  maxTaps: number;
}

function computeTaps(inSize: number, outSize: number, antialias: boolean): Taps {
  const scale = inSize / outSize;
  const support = antialias ? Math.max(scale, 1) : 1;
  const maxTaps = Math.ceil(2 * support) + 2;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float32Array(outSize * maxTaps);
  for (let o = 0; o < outSize; o++) {
    // Half-pixel alignment: output centre o+0.5 maps to input position (o+0.5)·scale in edge coordinates.
    const centre = (o + 0.5) * scale;
    const lo = Math.max(0, Math.floor(centre - support));
    const hi = Math.min(inSize - 1, Math.ceil(centre + support));
    let sum = 0;
    let n = 0;
    let first = -1;
    const w = new Float64Array(hi - lo + 1);
    for (let i = lo; i <= hi; i++) {
      const t = 1 - Math.abs((i + 0.5 - centre) / support);
      if (t <= 0) continue;
      if (first < 0) first = i;
      w[i - first] = t;
      n = i - first + 1;
      sum += t;
    }
    if (first < 0) {
      // Only when enlarging at the very border: replicate the edge pixel.
      first = Math.min(inSize - 1, Math.max(0, Math.floor(centre)));
      w[0] = 1;
      n = 1;
      sum = 1;
    }
    start[o] = first;
    count[o] = n;
    for (let k = 0; k < n; k++) weights[o * maxTaps + k] = w[k] / sum;
  }
  return { start, count, weights, maxTaps };
}

/** Separable resample of interleaved `channels`-channel 8-bit data. */
export function resizeData(
  src: Uint8Array,
  width: number,
  height: number,
  channels: number,
  outW: number,
  outH: number,
  antialias = true,
): Uint8Array {
  const tx = computeTaps(width, outW, antialias);
  const ty = computeTaps(height, outH, antialias);
  // Horizontal pass into floats (no rounding in between), then vertical pass with rounding.
  const tmp = new Float32Array(height * outW * channels);
  for (let y = 0; y < height; y++) {
    const row = y * width * channels;
    const trow = y * outW * channels;
    for (let x = 0; x < outW; x++) {
      const s = tx.start[x];
      const n = tx.count[x];
      const wo = x * tx.maxTaps;
      const to = trow + x * channels;
      if (channels === 3) {
        // Unrolled RGB: one pass over the taps instead of three.
        let a0 = 0;
        let a1 = 0;
        let a2 = 0;
        for (let k = 0, p = row + s * 3; k < n; k++, p += 3) {
          const wk = tx.weights[wo + k];
          a0 += wk * src[p];
          a1 += wk * src[p + 1];
          a2 += wk * src[p + 2];
        }
        tmp[to] = a0;
        tmp[to + 1] = a1;
        tmp[to + 2] = a2;
        continue;
      }
      for (let c = 0; c < channels; c++) {
        let acc = 0;
        for (let k = 0; k < n; k++) acc += tx.weights[wo + k] * src[row + (s + k) * channels + c];
        tmp[to + c] = acc;
      }
    }
  }
  const out = new Uint8Array(outW * outH * channels);
  const stride = outW * channels;
  const acc = new Float64Array(stride);
  for (let y = 0; y < outH; y++) {
    const s = ty.start[y];
    const n = ty.count[y];
    const wo = y * ty.maxTaps;
    const orow = y * stride;
    // Row-at-a-time accumulation keeps the reads of tmp sequential.
    acc.fill(0);
    for (let k = 0; k < n; k++) {
      const wk = ty.weights[wo + k];
      const base = (s + k) * stride;
      for (let i = 0; i < stride; i++) acc[i] += wk * tmp[base + i];
    }
    for (let i = 0; i < stride; i++) {
      const v = acc[i];
      out[orow + i] = v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
    }
  }
  return out;
}

/**
 * Bilinear resize to exactly `width`×`height` (aspect ratio is the caller's business), half-pixel aligned
 * like OpenCV INTER_LINEAR / PIL / tf.image.resize(halfPixelCenters). Same size in and out is an exact copy.
 */
export function resize(img: RgbImage, width: number, height: number, opts: ResizeOptions = {}): RgbImage {
  assertRgbImage(img);
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new VisageError('E_BAD_INPUT', `resize target must be positive integers, got ${width}×${height}`);
  }
  if (width === img.width && height === img.height) return { width, height, data: new Uint8Array(img.data) };
  return {
    width,
    height,
    data: resizeData(img.data, img.width, img.height, 3, width, height, opts.antialias ?? true),
  };
}

/**
 * Copies the integer rectangle `rect` (x, y, width, height are rounded to integers). Parts of the rectangle
 * outside the image are padded with `fill` (default black, [0, 0, 0]) so the result is always
 * width×height — a face box at the border of a photo still gives a fixed-size crop.
 */
export function crop(img: RgbImage, rect: Rect, fill: Rgb = [0, 0, 0]): RgbImage {
  assertRgbImage(img);
  const x0 = Math.round(rect.x);
  const y0 = Math.round(rect.y);
  const w = Math.round(rect.width);
  const h = Math.round(rect.height);
  if (![x0, y0, w, h].every(Number.isFinite) || w < 1 || h < 1) {
    throw new VisageError(
      'E_BAD_INPUT',
      `crop rectangle must have a positive size, got ${JSON.stringify(rect)}`,
    );
  }
  const out = new Uint8Array(w * h * 3);
  const inside = x0 >= 0 && y0 >= 0 && x0 + w <= img.width && y0 + h <= img.height;
  if (!inside && (fill[0] !== 0 || fill[1] !== 0 || fill[2] !== 0)) {
    for (let i = 0; i < out.length; i += 3) {
      out[i] = fill[0];
      out[i + 1] = fill[1];
      out[i + 2] = fill[2];
    }
  }
  // Copy the overlap row by row.
  const sx = Math.max(0, x0);
  const ex = Math.min(img.width, x0 + w);
  const sy = Math.max(0, y0);
  const ey = Math.min(img.height, y0 + h);
  if (sx < ex) {
    for (let y = sy; y < ey; y++) {
      const from = (y * img.width + sx) * 3;
      out.set(img.data.subarray(from, from + (ex - sx) * 3), ((y - y0) * w + (sx - x0)) * 3);
    }
  }
  return { width: w, height: h, data: out };
}

/** Mirror left↔right (the usual training augmentation for faces). */
export function flipHorizontal(img: RgbImage): RgbImage {
  assertRgbImage(img);
  const { width, height, data } = img;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < height; y++) {
    const row = y * width * 3;
    for (let x = 0; x < width; x++) {
      const s = row + x * 3;
      const d = row + (width - 1 - x) * 3;
      out[d] = data[s];
      out[d + 1] = data[s + 1];
      out[d + 2] = data[s + 2];
    }
  }
  return { width, height, data: out };
}

/**
 * Images side by side at one height (each resized keeping its aspect ratio), `gap` white pixels apart:
 * the content | style | result strips of `visage style --grid`.
 */
export function sideBySide(images: readonly RgbImage[], height: number, gap = 4): RgbImage {
  if (images.length === 0) throw new VisageError('E_BAD_INPUT', 'sideBySide needs at least one image');
  const parts = images.map((img) =>
    resize(img, Math.max(1, Math.round((img.width * height) / img.height)), height),
  );
  const width = parts.reduce((w, p) => w + p.width, 0) + gap * (parts.length - 1);
  const data = new Uint8Array(width * height * 3).fill(255);
  let x0 = 0;
  for (const p of parts) {
    for (let y = 0; y < height; y++)
      data.set(p.data.subarray(y * p.width * 3, (y + 1) * p.width * 3), (y * width + x0) * 3);
    x0 += p.width + gap;
  }
  return { width, height, data };
}
