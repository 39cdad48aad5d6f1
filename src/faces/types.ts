/**
 * The data the face pipeline passes around. Coordinates are pixels of the (EXIF-upright) image: boxes
 * span [x, x + width) × [y, y + height) with the image covering [0, W) × [0, H); landmarks are face-api's
 * network output mapped back through the crop, in the same units.
 */
import type { AffineMatrix } from '../image/affine.js';
import type { RgbImage } from '../image/rgb.js';

/** A face's box in image pixels: top-left corner, width and height. */
export interface FaceBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** An (x, y) point in image pixels. */
export type Point2 = [number, number];

/** A detected face: its box, the detector's score (0…1) and, once found, its 68 landmarks. */
export interface DetectedFace {
  /** Face box in the original image's pixels (clipped to the image). */
  box: FaceBox;
  /** Detector confidence in (0, 1]. */
  score: number;
  /** 68 points (iBUG 300-W order: jaw 0–16, brows 17–26, nose 27–35, eyes 36–47, mouth 48–67). */
  landmarks?: Point2[];
}

export interface AlignedFace {
  /** The canonical face chip the encoder reads (150×150 for dlib). */
  chip: RgbImage;
  face: DetectedFace;
  /** Maps chip pixel coordinates to image pixel coordinates (the inverse map warpAffine took). */
  chipToImage: AffineMatrix;
}

/** A face embedding: the unit-length vector and the id of the model that made it. */
export interface Embedding {
  /** Id of the encoder that produced it (vectors of different models are not comparable). */
  model: string;
  /** Unit-length descriptor. */
  vector: Float32Array;
}
