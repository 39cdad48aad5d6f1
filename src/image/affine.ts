/**
 * Affine warps and the similarity fit used for face alignment.
 *
 * Coordinate convention ("pixel centres"): the centre of pixel (column i, row j) is the point (i, j), so the
 * image spans [-0.5, w-0.5] × [-0.5, h-0.5]. Landmarks from detectors are in this convention (or differ by
 * 0.5, which a similarity fit absorbs into its translation, as long as template and landmarks agree).
 * This is OpenCV's warpAffine convention.
 *
 * A matrix [[a, b, c], [d, e, f]] maps (x, y) to (a·x + b·y + c, d·x + e·y + f).
 */
import { VisageError } from '../errors.js';
import { assertRgbImage, type Rgb, type RgbImage } from './rgb.js';

export type AffineMatrix = [[number, number, number], [number, number, number]];
export type Point = readonly [number, number];

export type BorderMode = 'constant' | 'replicate' | 'reflect';

export interface WarpOptions {
  /**
   * What input pixels outside the image read as: `constant` = `borderValue` (default black); `replicate` = the
   * nearest edge pixel (aaa|abcd|ddd); `reflect` = mirror without repeating the edge (dcb|abcd|cba, OpenCV's
   * BORDER_REFLECT_101, numpy's 'reflect'). Default `constant`.
   */
  border?: BorderMode;
  borderValue?: Rgb;
}

export const IDENTITY: AffineMatrix = [
  [1, 0, 0],
  [0, 1, 0],
];

export function applyAffine(m: AffineMatrix, p: Point): [number, number] {
  return [m[0][0] * p[0] + m[0][1] * p[1] + m[0][2], m[1][0] * p[0] + m[1][1] * p[1] + m[1][2]];
}

/** The matrix of "first `second`, then `first`": compose(a, b)(p) = a(b(p)). */
export function composeAffine(first: AffineMatrix, second: AffineMatrix): AffineMatrix {
  const [[a, b, c], [d, e, f]] = first;
  const [[p, q, r], [s, t, u]] = second;
  return [
    [a * p + b * s, a * q + b * t, a * r + b * u + c],
    [d * p + e * s, d * q + e * t, d * r + e * u + f],
  ];
}

export function invertAffine(m: AffineMatrix): AffineMatrix {
  const [[a, b, c], [d, e, f]] = m;
  const det = a * e - b * d;
  const norm = Math.max(Math.abs(a), Math.abs(b), Math.abs(d), Math.abs(e));
  if (!Number.isFinite(det) || Math.abs(det) <= 1e-12 * norm * norm || norm === 0) {
    throw new VisageError('E_BAD_INPUT', 'affine matrix is singular and cannot be inverted', { matrix: m });
  }
  const ia = e / det;
  const ib = -b / det;
  const id = -d / det;
  const ie = a / det;
  return [
    [ia, ib, -(ia * c + ib * f)],
    [id, ie, -(id * c + ie * f)],
  ];
}

/**
 * Least-squares similarity (uniform scale + rotation + translation, no reflection) mapping `src` onto `dst`:
 * minimises Σ‖dst_k − (s·R·src_k + t)‖². In 2-D this has the closed form below, which is exactly Umeyama's
 * (1991) solution with the reflection guard: writing s·R = [[a, −b], [b, a]] makes the problem linear.
 * Needs ≥ 2 distinct source points.
 */
export function similarityTransform(src: readonly Point[], dst: readonly Point[]): AffineMatrix {
  if (src.length !== dst.length || src.length < 2) {
    throw new VisageError(
      'E_BAD_INPUT',
      `similarityTransform needs two equally long lists of ≥ 2 points, got ${src.length} and ${dst.length}`,
    );
  }
  const n = src.length;
  let mxs = 0;
  let mys = 0;
  let mxd = 0;
  let myd = 0;
  for (let k = 0; k < n; k++) {
    mxs += src[k][0];
    mys += src[k][1];
    mxd += dst[k][0];
    myd += dst[k][1];
  }
  mxs /= n;
  mys /= n;
  mxd /= n;
  myd /= n;
  let ss = 0;
  let dotp = 0;
  let cross = 0;
  for (let k = 0; k < n; k++) {
    const xs = src[k][0] - mxs;
    const ys = src[k][1] - mys;
    const xd = dst[k][0] - mxd;
    const yd = dst[k][1] - myd;
    ss += xs * xs + ys * ys;
    dotp += xs * xd + ys * yd;
    cross += xs * yd - ys * xd;
  }
  if (!Number.isFinite(ss) || !Number.isFinite(dotp) || !Number.isFinite(cross)) {
    throw new VisageError('E_BAD_INPUT', 'similarityTransform got non-finite coordinates');
  }
  if (ss <= 1e-12) throw new VisageError('E_BAD_INPUT', 'similarityTransform: all source points coincide');
  const a = dotp / ss;
  const b = cross / ss;
  return [
    [a, -b, mxd - (a * mxs - b * mys)],
    [b, a, myd - (b * mxs + a * mys)],
  ];
}

/** Index into [0, n) per border mode, or -1 for "use the constant". */
function borderIndex(i: number, n: number, mode: BorderMode): number {
  if (i >= 0 && i < n) return i;
  if (mode === 'constant') return -1;
  if (mode === 'replicate' || n === 1) return i < 0 ? 0 : n - 1;
  const period = 2 * (n - 1);
  let k = Math.abs(i) % period;
  if (k >= n) k = period - k;
  return k;
}

/**
 * Bilinear warp. `m` maps OUTPUT pixel coordinates to INPUT coordinates (the "inverse map", OpenCV's
 * WARP_INVERSE_MAP): output pixel (x, y) takes the input sampled at m·(x, y, 1). To warp with a forward
 * transform T (input → output, e.g. similarityTransform(landmarks, template)), pass invertAffine(T) or use
 * warpAffineForward. Both use the pixel-centre convention described at the top of this file.
 */
export function warpAffine(
  img: RgbImage,
  m: AffineMatrix,
  outW: number,
  outH: number,
  opts: WarpOptions = {},
): RgbImage {
  assertRgbImage(img);
  if (!Number.isInteger(outW) || !Number.isInteger(outH) || outW < 1 || outH < 1) {
    throw new VisageError('E_BAD_INPUT', `warp output size must be positive integers, got ${outW}×${outH}`);
  }
  if (!m.every((row) => row.every(Number.isFinite))) {
    throw new VisageError('E_BAD_INPUT', 'affine matrix has non-finite entries', { matrix: m });
  }
  const mode = opts.border ?? 'constant';
  const bv = opts.borderValue ?? [0, 0, 0];
  const { width: w, height: h, data: src } = img;
  const out = new Uint8Array(outW * outH * 3);
  const [[a, b, c], [d, e, f]] = m;
  let o = 0;
  for (let y = 0; y < outH; y++) {
    let sx = b * y + c;
    let sy = e * y + f;
    for (let x = 0; x < outW; x++, o += 3, sx += a, sy += d) {
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const fx = sx - x0;
      const fy = sy - y0;
      const w00 = (1 - fx) * (1 - fy);
      const w10 = fx * (1 - fy);
      const w01 = (1 - fx) * fy;
      const w11 = fx * fy;
      if (x0 >= 0 && y0 >= 0 && x0 + 1 < w && y0 + 1 < h) {
        const p = (y0 * w + x0) * 3;
        const q = p + w * 3;
        for (let ch = 0; ch < 3; ch++) {
          const v = w00 * src[p + ch] + w10 * src[p + 3 + ch] + w01 * src[q + ch] + w11 * src[q + 3 + ch];
          out[o + ch] = v >= 255 ? 255 : v <= 0 ? 0 : Math.round(v);
        }
        continue;
      }
      // Slow path near or beyond the border: resolve each neighbour separately.
      const xa = borderIndex(x0, w, mode);
      const xb = borderIndex(x0 + 1, w, mode);
      const ya = borderIndex(y0, h, mode);
      const yb = borderIndex(y0 + 1, h, mode);
      const p00 = xa < 0 || ya < 0 ? -1 : (ya * w + xa) * 3;
      const p10 = xb < 0 || ya < 0 ? -1 : (ya * w + xb) * 3;
      const p01 = xa < 0 || yb < 0 ? -1 : (yb * w + xa) * 3;
      const p11 = xb < 0 || yb < 0 ? -1 : (yb * w + xb) * 3;
      for (let ch = 0; ch < 3; ch++) {
        const k = bv[ch];
        const v =
          w00 * (p00 < 0 ? k : src[p00 + ch]) +
          w10 * (p10 < 0 ? k : src[p10 + ch]) +
          w01 * (p01 < 0 ? k : src[p01 + ch]) +
          w11 * (p11 < 0 ? k : src[p11 + ch]);
        out[o + ch] = v >= 255 ? 255 : v <= 0 ? 0 : Math.round(v);
      }
    }
  }
  return { width: outW, height: outH, data: out };
}

/** warpAffine with a FORWARD matrix (input → output coordinates), as cv2.warpAffine without the inverse flag. */
export function warpAffineForward(
  img: RgbImage,
  forward: AffineMatrix,
  outW: number,
  outH: number,
  opts: WarpOptions = {},
): RgbImage {
  return warpAffine(img, invertAffine(forward), outW, outH, opts);
}
