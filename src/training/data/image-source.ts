/**
 * Training images, decoded and brought to the training size once, then kept in memory.
 *
 * Pixels are cached as 8-bit (h·w·c bytes per image, c = 1 grey or 3 RGB): that is the decoder's own
 * precision, so nothing is lost, and it is 4× smaller than float32 (Yale B at 96×96 grey: 22 MB instead of
 * 89 MB). Floats are produced per batch by batch.ts, with augmentation fused into that conversion.
 */
import { VisageError } from '../../errors.js';
import { assertRgbImage, decodeImage, resizeData, toGrey, type RgbImage } from '../../image/index.js';
import type { Identity } from '../../eval/scan.js';

/**
 * Face alignment supplied by the caller (the faces pipeline): the aligned face crop of `img`, any size
 * (resized to the training size here; a different aspect ratio is centre-cropped), or null when no face is
 * found, in which case the whole image is centre-cropped instead and counted in `stats.fallbacks`.
 */
export type AlignFn = (img: RgbImage, file: string) => RgbImage | null | Promise<RgbImage | null>;

export interface FaceImageSourceOptions {
  /** Training size: a number for square images, or width and height. */
  size: number | { width: number; height: number };
  /** 1 = grey (BT.601 luma, as imageToTensor), 3 = RGB. */
  channels: 1 | 3;
  /** Detect mode. Omit for pre-cropped sets (`--no-detect`): every image is fitted (`fit`) and resized. */
  align?: AlignFn;
  /**
   * Whole images (no `align`, or align found no face) of another aspect ratio than `size`: 'crop' the
   * centre (default) or 'pad' the short side (FitMode).
   */
  fit?: FitMode;
  /** Images decoded at once (decoding JPEG/PNG runs in libvips' threads). Default 4. */
  concurrency?: number;
  /** Called after each image with the number done and the total. */
  onProgress?: (done: number, total: number) => void;
}

export interface FaceImageSourceStats {
  images: number;
  /** Images the align callback accepted. */
  aligned: number;
  /** Detect mode: images where align returned null and the centre crop was used. */
  fallbacks: number;
  /** Their paths (the first 100). */
  fallbackFiles: string[];
  seconds: number;
}

/** The largest centred window of aspect ratio width:height inside a w×h image. */
function centreWindow(
  w: number,
  h: number,
  width: number,
  height: number,
): { x: number; y: number; w: number; h: number } {
  const target = width / height;
  let cw = w;
  let ch = h;
  if (w / h > target) cw = Math.max(1, Math.round(h * target));
  else ch = Math.max(1, Math.round(w / target));
  return { x: Math.floor((w - cw) / 2), y: Math.floor((h - ch) / 2), w: cw, h: ch };
}

/**
 * How a whole image (no face alignment) is brought to the training aspect ratio: 'crop' keeps the largest
 * centred window (ORL's 92×112 loses 10 rows top and bottom: forehead and chin), 'pad' widens the short
 * side by repeating its edge pixels, so the whole photo is kept (no hard black border for the net to see).
 */
export type FitMode = 'crop' | 'pad';

/** The image edge-padded, centred, to the aspect ratio width:height (unchanged when it already has it). */
function padToAspect(
  data: Uint8Array,
  w: number,
  h: number,
  channels: number,
  width: number,
  height: number,
): { data: Uint8Array; w: number; h: number } {
  const target = width / height;
  const pw = w / h < target ? Math.max(w, Math.round(h * target)) : w;
  const ph = w / h > target ? Math.max(h, Math.round(w / target)) : h;
  if (pw === w && ph === h) return { data, w, h };
  const x0 = Math.floor((pw - w) / 2);
  const y0 = Math.floor((ph - h) / 2);
  const out = new Uint8Array(pw * ph * channels);
  for (let y = 0; y < ph; y++) {
    const sy = Math.min(h - 1, Math.max(0, y - y0));
    for (let x = 0; x < pw; x++) {
      const sx = Math.min(w - 1, Math.max(0, x - x0));
      for (let c = 0; c < channels; c++)
        out[(y * pw + x) * channels + c] = data[(sy * w + sx) * channels + c];
    }
  }
  return { data: out, w: pw, h: ph };
}

/**
 * Interleaved `channels`-channel pixels at width×height: brought to that aspect ratio by `fit` (the centred
 * window, or edge padding), then resized (antialiased bilinear, src/image's resizeData). Working on 1
 * channel for grey training is 3× cheaper than resizing RGB, and identical for grey sources.
 */
function fitResizeData(
  data: Uint8Array,
  w: number,
  h: number,
  channels: number,
  width: number,
  height: number,
  fit: FitMode = 'crop',
): Uint8Array {
  if (fit === 'pad') ({ data, w, h } = padToAspect(data, w, h, channels, width, height));
  const win = centreWindow(w, h, width, height);
  let src = data;
  if (win.w !== w || win.h !== h) {
    src = new Uint8Array(win.w * win.h * channels);
    const row = win.w * channels;
    for (let y = 0; y < win.h; y++) {
      const from = ((win.y + y) * w + win.x) * channels;
      src.set(data.subarray(from, from + row), y * row);
    }
  }
  if (win.w === width && win.h === height) return src === data ? new Uint8Array(data) : src;
  return resizeData(src, win.w, win.h, channels, width, height);
}

/**
 * Largest centred window of the target aspect ratio, resized to width×height (antialiased). For ORL
 * (92×112 → square) this keeps the full width and trims 10 rows top and bottom.
 */
export function centreCropResize(img: RgbImage, width: number, height: number): RgbImage {
  assertRgbImage(img);
  return { width, height, data: fitResizeData(img.data, img.width, img.height, 3, width, height) };
}

/** The whole image edge-padded to the aspect ratio width:height, resized to width×height ('pad' fit). */
export function padResize(img: RgbImage, width: number, height: number): RgbImage {
  assertRgbImage(img);
  return { width, height, data: fitResizeData(img.data, img.width, img.height, 3, width, height, 'pad') };
}

/** RGB image → `channels` interleaved bytes at the training size (grey is converted before resizing). */
function prepare(img: RgbImage, channels: 1 | 3, width: number, height: number, fit: FitMode): Uint8Array {
  assertRgbImage(img);
  const data = channels === 3 ? img.data : toGrey(img).data;
  return fitResizeData(data, img.width, img.height, channels, width, height, fit);
}

export class FaceImageSource {
  readonly width: number;
  readonly height: number;
  readonly channels: 1 | 3;
  /** Bytes (= values) per image: width · height · channels. */
  readonly pixelCount: number;
  /** Identity names, in label order. */
  readonly names: readonly string[];
  /** First flat image index of each identity, and one past the end (length = identities + 1). */
  readonly offsets: Int32Array;
  /** Path of every image, by flat index. */
  readonly files: readonly string[];
  readonly stats: FaceImageSourceStats;
  private readonly pixels: Uint8Array;

  private constructor(
    identities: readonly Identity[],
    width: number,
    height: number,
    channels: 1 | 3,
    pixels: Uint8Array,
    stats: FaceImageSourceStats,
  ) {
    this.width = width;
    this.height = height;
    this.channels = channels;
    this.pixelCount = width * height * channels;
    this.names = identities.map((id) => id.name);
    this.offsets = new Int32Array(identities.length + 1);
    identities.forEach((id, i) => (this.offsets[i + 1] = this.offsets[i] + id.files.length));
    this.files = identities.flatMap((id) => id.files);
    this.pixels = pixels;
    this.stats = stats;
  }

  /**
   * Decodes and preprocesses every image of `identities` (e.g. `split.train.identities`). An unreadable
   * file fails the whole load with the decoder's error (its code and path), so a broken dataset is noticed.
   */
  static async load(identities: readonly Identity[], opts: FaceImageSourceOptions): Promise<FaceImageSource> {
    const started = performance.now();
    const { width, height } =
      typeof opts.size === 'number' ? { width: opts.size, height: opts.size } : opts.size;
    for (const [k, v] of [
      ['width', width],
      ['height', height],
    ] as const) {
      if (!Number.isInteger(v) || v < 8 || v > 1024) {
        throw new VisageError('E_BAD_OPTION', `training image ${k} must be an integer in 8…1024, got ${v}`);
      }
    }
    if (opts.channels !== 1 && opts.channels !== 3) {
      throw new VisageError('E_BAD_OPTION', `channels must be 1 or 3, got ${String(opts.channels)}`);
    }
    const fit = opts.fit ?? 'crop';
    if (fit !== 'crop' && fit !== 'pad')
      throw new VisageError('E_BAD_OPTION', `fit must be crop or pad, got ${String(fit)}`);
    const concurrency = opts.concurrency ?? 4;
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new VisageError('E_BAD_OPTION', `concurrency must be a positive integer, got ${concurrency}`);
    }
    const files = identities.flatMap((id) => id.files);
    const per = width * height * opts.channels;
    const pixels = new Uint8Array(files.length * per);
    const stats: FaceImageSourceStats = {
      images: files.length,
      aligned: 0,
      fallbacks: 0,
      fallbackFiles: [],
      seconds: 0,
    };
    let next = 0;
    let done = 0;
    let failed = false;
    const fellBack = new Uint8Array(files.length);
    const loadOne = async (i: number): Promise<void> => {
      const file = files[i];
      const img = await decodeImage(file);
      let face: RgbImage | null = null;
      if (opts.align) {
        face = await opts.align(img, file);
        if (face) stats.aligned++;
        else fellBack[i] = 1;
      }
      pixels.set(prepare(face ?? img, opts.channels, width, height, face ? 'crop' : fit), i * per);
      opts.onProgress?.(++done, files.length);
    };
    const worker = async (): Promise<void> => {
      while (next < files.length && !failed) {
        try {
          await loadOne(next++);
        } catch (e) {
          failed = true; // stop the other workers too
          throw e;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, files.length) }, worker));
    // Workers finish in any order, but each writes only its own slot, so the cache is order-independent.
    fellBack.forEach((f, i) => {
      if (!f) return;
      stats.fallbacks++;
      if (stats.fallbackFiles.length < 100) stats.fallbackFiles.push(files[i]);
    });
    stats.seconds = (performance.now() - started) / 1000;
    return new FaceImageSource(identities, width, height, opts.channels, pixels, stats);
  }

  /** Number of images. */
  get count(): number {
    return this.files.length;
  }

  /** Number of identities. */
  get identityCount(): number {
    return this.names.length;
  }

  /** Image count of each identity (what PKSampler takes). */
  counts(): number[] {
    return Array.from({ length: this.identityCount }, (_, i) => this.offsets[i + 1] - this.offsets[i]);
  }

  /** Flat index of image `image` of identity `identity`. */
  indexOf(identity: number, image: number): number {
    const start = this.offsets[identity];
    if (
      identity < 0 ||
      identity >= this.identityCount ||
      image < 0 ||
      start + image >= this.offsets[identity + 1]
    ) {
      throw new VisageError('E_BAD_INPUT', `no image ${image} of identity ${identity}`);
    }
    return start + image;
  }

  /** Identity (label) of a flat index. */
  labelOf(index: number): number {
    let lo = 0;
    let hi = this.identityCount - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.offsets[mid] <= index) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** The cached 8-bit pixels of one image (a view: do not modify), h·w·c interleaved. */
  image(index: number): Uint8Array {
    if (!Number.isInteger(index) || index < 0 || index >= this.count) {
      throw new VisageError('E_BAD_INPUT', `image index ${index} out of range 0…${this.count - 1}`);
    }
    return this.pixels.subarray(index * this.pixelCount, (index + 1) * this.pixelCount);
  }
}
