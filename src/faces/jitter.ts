/**
 * Jitter averaging (dlib's `num_jitters`): a face is encoded several times, each time from a slightly
 * perturbed chip, and the descriptors are averaged. dlib's `jitter_image` perturbs the 150×150 chip by a
 * rotation of up to ±3°, a crop of the chip's inner 144 px square scaled by 1/s with s in [0.97, 1), moved
 * by up to ±2 % of that square, and a mirror image with probability ½. Here each perturbation is a
 * chip → chip map composed with the face's chip → image map, so a jittered chip is resampled once from
 * the photo (not from the already resampled chip, which would blur it twice).
 */
import { composeAffine, type AffineMatrix } from '../image/affine.js';
import { Rng } from '../util/random.js';

const MAX_ROTATION_DEG = 3;
const MIN_OBJECT_HEIGHT = 0.97;
const TRANSLATE = 0.02;
/** dlib shrinks the chip's rectangle by 3 px on every side before it jitters. */
const SHRINK = 3;

/**
 * One seed for every face: the same N perturbations for each face, so a descriptor does not depend on
 * float noise in the landmarks (a per-face seed from them could change between engines) and reruns agree.
 */
export const JITTER_SEED = 0x6a177e5;

/**
 * `n` chip → image maps for jittered chips of the face whose chip → image map is `chipToImage`:
 * chip pixel (u, v) reads the face chip at c + t + k·R(θ)·D·((u, v) − c), c the chip centre, D a mirror
 * or not, then the photo through `chipToImage`. Deterministic for a given seed.
 */
export function jitterTransforms(
  chipToImage: AffineMatrix,
  size: number,
  n: number,
  seed = JITTER_SEED,
): AffineMatrix[] {
  const rng = new Rng(seed);
  const c = (size - 1) / 2;
  const inner = size - 2 * SHRINK;
  const out: AffineMatrix[] = [];
  for (let i = 0; i < n; i++) {
    const tx = rng.uniform(-TRANSLATE, TRANSLATE) * inner;
    const ty = rng.uniform(-TRANSLATE, TRANSLATE) * inner;
    const box = inner / rng.uniform(MIN_OBJECT_HEIGHT, 1);
    const angle = (rng.uniform(-MAX_ROTATION_DEG, MAX_ROTATION_DEG) * Math.PI) / 180;
    const mirror = rng.next() < 0.5 ? -1 : 1;
    // dlib's chip convention: the box's corner pixels become the chip's corner pixels.
    const k = (box - 1) / (size - 1);
    const cos = k * Math.cos(angle);
    const sin = k * Math.sin(angle);
    // k·R·D, D = diag(mirror, 1); then translate so that c ↦ c + t.
    const a = cos * mirror;
    const b = -sin;
    const d = sin * mirror;
    const e = cos;
    const chipToChip: AffineMatrix = [
      [a, b, c + tx - (a * c + b * c)],
      [d, e, c + ty - (d * c + e * c)],
    ];
    out.push(composeAffine(chipToImage, chipToChip));
  }
  return out;
}
