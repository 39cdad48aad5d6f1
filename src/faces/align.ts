/**
 * Face alignment exactly as dlib prepares faces for its ResNet encoder: `get_face_chip_details(shape,
 * size = 150, padding = 0.25)` followed by `extract_image_chip`. (face-api itself only crops an upright
 * box around the landmarks; the network was trained by dlib on chips made this way, so we follow dlib.)
 *
 * 1. Template: dlib's mean face shape for points 17–67 of the iBUG-68 scheme, in a unit square, made
 *    room for with `padding` on every side: p' = (padding + p) / (1 + 2·padding) · size. dlib fits only
 *    the stable points: it skips the eyebrows (17–26), and the lower lip (55–59, 65–67), which moves
 *    with the jaw; the jaw line (0–16) has no template point at all. That leaves 33 points: nose bridge
 *    and tip (27–35), both eyes (36–47), upper lip and mouth corners (48–54, 60–64).
 * 2. Least-squares similarity (Umeyama) from template to landmarks: chip → image.
 * 3. dlib turns it into a rotated rectangle (centre = the map of the chip centre, side = size·scale − 1,
 *    angle) whose corner pixels become the chip's corner pixels, so chip pixel (u, v) samples the image
 *    at centre + k·R(angle)·((u, v) − (size − 1)/2) with k = (size·scale − 1)/(size − 1).
 * 4. When that rectangle is more than twice the chip, dlib samples from an image pyramid (halving until
 *    it is not) so the bilinear sampling does not alias; we downsample the face region the same number
 *    of times with an antialiased resize. Outside the image is black.
 */
import {
  applyAffine,
  composeAffine,
  similarityTransform,
  warpAffine,
  type AffineMatrix,
  type Point,
} from '../image/affine.js';
import { crop, resize } from '../image/geometry.js';
import type { RgbImage } from '../image/rgb.js';
import { VisageError } from '../errors.js';
import type { AlignedFace, DetectedFace, Point2 } from './types.js';

/** dlib's mean face shape, points 17..67 (interpolation.h, get_face_chip_details), unit square. */
const MEAN_FACE_X = [
  0.000213256, 0.0752622, 0.18113, 0.29077, 0.393397, 0.586856, 0.689483, 0.799124, 0.904991, 0.98004,
  0.490127, 0.490127, 0.490127, 0.490127, 0.36688, 0.426036, 0.490127, 0.554217, 0.613373, 0.121737, 0.187122,
  0.265825, 0.334606, 0.260918, 0.182743, 0.645647, 0.714428, 0.793132, 0.858516, 0.79751, 0.719335, 0.254149,
  0.340985, 0.428858, 0.490127, 0.551395, 0.639268, 0.726104, 0.642159, 0.556721, 0.490127, 0.423532,
  0.338094, 0.290379, 0.428096, 0.490127, 0.552157, 0.689874, 0.553364, 0.490127, 0.42689,
];
const MEAN_FACE_Y = [
  0.106454, 0.038915, 0.0187482, 0.0344891, 0.0773906, 0.0773906, 0.0344891, 0.0187482, 0.038915, 0.106454,
  0.203352, 0.307009, 0.409805, 0.515625, 0.587326, 0.609345, 0.628106, 0.609345, 0.587326, 0.216423,
  0.178758, 0.179852, 0.231733, 0.245099, 0.244077, 0.231733, 0.179852, 0.178758, 0.216423, 0.244077,
  0.245099, 0.780233, 0.745405, 0.727388, 0.742578, 0.727388, 0.745405, 0.780233, 0.864805, 0.902192,
  0.909281, 0.902192, 0.864805, 0.784792, 0.778746, 0.785343, 0.778746, 0.784792, 0.824182, 0.831803,
  0.824182,
];

/** The landmark indices dlib fits (33 of 68). */
export const DLIB_ALIGNMENT_POINTS: readonly number[] = Array.from({ length: 51 }, (_, i) => i + 17).filter(
  (i) => !(i <= 26 || (i >= 55 && i <= 59) || i >= 65),
);

export interface ChipOptions {
  /** Chip side in pixels. Default 150 (dlib ResNet input). */
  size?: number;
  /** Margin around the mean face, as a fraction of it. Default 0.25 (dlib's compute_face_descriptor). */
  padding?: number;
}

/** Template positions (chip pixels) of DLIB_ALIGNMENT_POINTS. */
export function dlibTemplate(size = 150, padding = 0.25): Point2[] {
  return DLIB_ALIGNMENT_POINTS.map((i): Point2 => [
    ((padding + MEAN_FACE_X[i - 17]) / (2 * padding + 1)) * size,
    ((padding + MEAN_FACE_Y[i - 17]) / (2 * padding + 1)) * size,
  ]);
}

/** The chip → image map dlib's extract_image_chip uses for these 68 landmarks (steps 2–3 above). */
export function faceChipTransform(landmarks: readonly Point2[], opts: ChipOptions = {}): AffineMatrix {
  const size = opts.size ?? 150;
  const padding = opts.padding ?? 0.25;
  if (landmarks.length !== 68) {
    throw new VisageError('E_BAD_INPUT', `face alignment needs 68 landmarks, got ${landmarks.length}`);
  }
  const from = dlibTemplate(size, padding);
  const to = DLIB_ALIGNMENT_POINTS.map((i) => landmarks[i] as Point);
  const t = similarityTransform(from, to);
  const a = t[0][0];
  const b = t[1][0];
  const scale = Math.hypot(a, b);
  const angle = Math.atan2(b, a);
  const [cx, cy] = applyAffine(t, [size / 2, size / 2]);
  const k = (size * scale - 1) / (size - 1);
  const cos = k * Math.cos(angle);
  const sin = k * Math.sin(angle);
  const m = (size - 1) / 2;
  return [
    [cos, -sin, cx - (cos * m - sin * m)],
    [sin, cos, cy - (sin * m + cos * m)],
  ];
}

/** Cuts the chip for `chipToImage` (step 4 above: pyramid-like pre-shrink, then bilinear). */
export function extractChip(img: RgbImage, chipToImage: AffineMatrix, size: number): RgbImage {
  const k = Math.hypot(chipToImage[0][0], chipToImage[1][0]);
  // dlib: keep halving while the halved rectangle is still larger than the chip.
  let halvings = 0;
  while ((k * (size - 1)) / 2 ** (halvings + 1) > size) halvings++;
  if (halvings === 0) return warpAffine(img, chipToImage, size, size);
  // Shrink only the chip's footprint (plus a margin for the filter) by 2^halvings.
  const ends: Point[] = [
    [0, 0],
    [size - 1, 0],
    [0, size - 1],
    [size - 1, size - 1],
  ];
  const corners = ends.map((p) => applyAffine(chipToImage, p));
  const margin = 2 ** (halvings + 1);
  const x0 = Math.floor(Math.min(...corners.map((p) => p[0]))) - margin;
  const y0 = Math.floor(Math.min(...corners.map((p) => p[1]))) - margin;
  const x1 = Math.ceil(Math.max(...corners.map((p) => p[0]))) + margin;
  const y1 = Math.ceil(Math.max(...corners.map((p) => p[1]))) + margin;
  const f = 2 ** halvings;
  const w = Math.max(1, Math.round((x1 - x0) / f));
  const h = Math.max(1, Math.round((y1 - y0) / f));
  const small = resize(crop(img, { x: x0, y: y0, width: x1 - x0, height: y1 - y0 }), w, h);
  // Pixel centres: image x ↦ small (x − x0 + ½)·(w / (x1 − x0)) − ½.
  const sx = w / (x1 - x0);
  const sy = h / (y1 - y0);
  const imageToSmall: AffineMatrix = [
    [sx, 0, (0.5 - x0) * sx - 0.5],
    [0, sy, (0.5 - y0) * sy - 0.5],
  ];
  return warpAffine(small, composeAffine(imageToSmall, chipToImage), size, size);
}

/** The aligned chip of a face with landmarks. */
export function alignFace(img: RgbImage, face: DetectedFace, opts: ChipOptions = {}): AlignedFace {
  if (!face.landmarks) {
    throw new VisageError('E_BAD_INPUT', 'face alignment needs the face landmarks (detect them first)');
  }
  const size = opts.size ?? 150;
  const chipToImage = faceChipTransform(face.landmarks, opts);
  return { chip: extractChip(img, chipToImage, size), face, chipToImage };
}
