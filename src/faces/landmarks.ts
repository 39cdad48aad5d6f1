/**
 * 68-point landmarks from face-api's landmark net, run on each detected face box. The crop follows
 * face-api: the box (clipped to the image, floored to whole pixels) padded with black to a centred
 * square, resized to 112×112; the network's [0, 1] outputs map back through the same square.
 */
import type { EngineName } from '../config.js';
import { createInferenceNetwork, type InferenceNetwork } from '../engine/inference/index.js';
import { applyAffine, composeAffine, similarityTransform, type AffineMatrix } from '../image/affine.js';
import { flipHorizontal, resize } from '../image/geometry.js';
import { createImage, type RgbImage } from '../image/rgb.js';
import { imagesToArray } from '../image/tensor.js';
import { DLIB_ALIGNMENT_POINTS, dlibTemplate, extractChip } from './align.js';
import { LANDMARK_FRAME } from './landmark-frame.js';
import { LANDMARK_INPUT, loadLandmark68 } from './models/landmark68.js';
import type { FaceBox, Point2 } from './types.js';

/** Where a face box's square crop sits in the image: origin (may be negative) and side. */
export interface LandmarkCrop {
  x: number;
  y: number;
  size: number;
}

/** The black-padded square crop the landmark net reads for `box`, and its placement in the image. */
export function landmarkCrop(img: RgbImage, box: FaceBox): { square: RgbImage; crop: LandmarkCrop } {
  // face-api's Box.clipAtImageBorders, then floor.
  const cx = Math.max(box.x, 0);
  const cy = Math.max(box.y, 0);
  const x0 = Math.floor(cx);
  const y0 = Math.floor(cy);
  const w = Math.max(1, Math.floor(Math.min(box.x + box.width - cx, img.width - cx)));
  const h = Math.max(1, Math.floor(Math.min(box.y + box.height - cy, img.height - cy)));
  const size = Math.max(w, h);
  // padToSquare(isCenter = true): round(diff / 2) after, the rest before.
  const padX = w < size ? size - w - Math.round((size - w) / 2) : 0;
  const padY = h < size ? size - h - Math.round((size - h) / 2) : 0;
  const square = createImage(size, size);
  for (let r = 0; r < h && y0 + r < img.height; r++) {
    const from = ((y0 + r) * img.width + x0) * 3;
    const n = Math.min(w, img.width - x0) * 3;
    square.data.set(img.data.subarray(from, from + n), ((padY + r) * size + padX) * 3);
  }
  return { square, crop: { x: x0 - padX, y: y0 - padY, size } };
}

/**
 * iBUG-68 index of each point's mirror image (left eye ↔ right eye, jaw 0 ↔ 16, …): what point k of a
 * mirrored face is on the original.
 */
export const MIRROR_68: readonly number[] = (() => {
  const m = Array.from({ length: 68 }, (_, i) => i);
  const swap = (a: number, b: number) => {
    m[a] = b;
    m[b] = a;
  };
  for (let i = 0; i < 8; i++) swap(i, 16 - i); // jaw
  for (let i = 0; i < 5; i++) swap(17 + i, 26 - i); // brows
  for (let i = 0; i < 2; i++) swap(31 + i, 35 - i); // nostrils
  [
    [36, 45],
    [37, 44],
    [38, 43],
    [39, 42],
    [40, 47],
    [41, 46],
  ].forEach(([a, b]) => swap(a, b)); // eyes
  [
    [48, 54],
    [49, 53],
    [50, 52],
    [55, 59],
    [56, 58],
  ].forEach(([a, b]) => swap(a, b)); // outer lip
  [
    [60, 64],
    [61, 63],
    [65, 67],
  ].forEach(([a, b]) => swap(a, b)); // inner lip
  return m;
})();

export interface LandmarkOptions {
  /**
   * Also run the net on the mirrored crop and average each point with its mirror partner's mirrored
   * position: test-time flip for landmarks (one more small-net run per face).
   */
  mirror?: boolean;
  /**
   * A second pass on an upright crop cut around the first pass's points, the face placed where the net
   * usually sees it (LANDMARK_FRAME): the points no longer depend on how well the detector's box fits
   * (coarse boxes of the zoom-out passes, low-score boxes, rolled heads). One more small-net run per face.
   */
  refine?: boolean;
}

/**
 * The map from landmark-net input pixels (centre-indexed) to image pixels for an upright crop in which the
 * face of `points` (image coordinates, face-api's edge convention) sits at LANDMARK_FRAME.
 */
export function refinedCropTransform(points: readonly Point2[]): AffineMatrix {
  // Template (unit square) → image pixel centres.
  const toImage = similarityTransform(
    dlibTemplate(1, 0),
    DLIB_ALIGNMENT_POINTS.map((i): [number, number] => [points[i][0] - 0.5, points[i][1] - 0.5]),
  );
  // Input pixel i (centre at (i + ½) / N of the input) → template unit coordinates.
  const k = 1 / (LANDMARK_INPUT * LANDMARK_FRAME.side);
  const toTemplate: AffineMatrix = [
    [k, 0, (0.5 / LANDMARK_INPUT - LANDMARK_FRAME.x) / LANDMARK_FRAME.side],
    [0, k, (0.5 / LANDMARK_INPUT - LANDMARK_FRAME.y) / LANDMARK_FRAME.side],
  ];
  return composeAffine(toImage, toTemplate);
}

export class LandmarkDetector {
  constructor(readonly net: InferenceNetwork) {}

  static load(modelDir?: string, engine?: EngineName): LandmarkDetector {
    const { def, weights } = loadLandmark68(modelDir);
    return new LandmarkDetector(createInferenceNetwork(def, weights, { engine }));
  }

  /** Landmarks of the 112×112 inputs, as raw network output in [0, 1] (x0, y0, x1, y1, …). */
  async predictRaw(inputs: RgbImage[]): Promise<Float32Array[]> {
    if (inputs.length === 0) return [];
    const { data } = (await this.net.run(imagesToArray(inputs, { scale: 1 }))).landmarks;
    return inputs.map((_, i) => data.slice(i * 136, (i + 1) * 136));
  }

  /** 68 points (image pixels) for each face box, one batched network run per call (two with `refine`). */
  async detect(img: RgbImage, boxes: FaceBox[], opts: LandmarkOptions = {}): Promise<Point2[][]> {
    const first = await this.fromBoxes(img, boxes, opts);
    if (!opts.refine || first.length === 0) return first;
    const maps = first.map(refinedCropTransform);
    const raw = await this.predictRaw(maps.map((m) => extractChip(img, m, LANDMARK_INPUT)));
    return maps.map((m, i) =>
      Array.from({ length: 68 }, (_, k): Point2 => {
        const [x, y] = applyAffine(m, [
          raw[i][2 * k] * LANDMARK_INPUT - 0.5,
          raw[i][2 * k + 1] * LANDMARK_INPUT - 0.5,
        ]);
        return [x + 0.5, y + 0.5];
      }),
    );
  }

  /** The first pass: each box's black-padded square crop, as face-api does. */
  private async fromBoxes(img: RgbImage, boxes: FaceBox[], opts: LandmarkOptions): Promise<Point2[][]> {
    const crops = boxes.map((b) => landmarkCrop(img, b));
    const inputs = crops.map((c) => resize(c.square, LANDMARK_INPUT, LANDMARK_INPUT));
    const raw = await this.predictRaw(opts.mirror ? [...inputs, ...inputs.map(flipHorizontal)] : inputs);
    return crops.map(({ crop }, i) => {
      const r = raw[i];
      const f = opts.mirror ? raw[i + crops.length] : undefined;
      return Array.from({ length: 68 }, (_, k): Point2 => {
        let u = r[2 * k];
        let v = r[2 * k + 1];
        if (f) {
          // Point k of the face is point MIRROR_68[k] of the mirrored face, at 1 − u across.
          const j = MIRROR_68[k];
          u = (u + 1 - f[2 * j]) / 2;
          v = (v + f[2 * j + 1]) / 2;
        }
        return [crop.x + u * crop.size, crop.y + v * crop.size];
      });
    });
  }

  dispose(): void {
    this.net.dispose();
  }
}
