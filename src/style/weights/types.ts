import type { WeightMap } from '../../engine/graph/index.js';
import type { Vgg19Preprocessing } from '../nets/vgg19.js';

/**
 * VGG-19 weights read from a public file, converted to our layout: `conv1_1/kernel` (HWIO, float32) and
 * `conv1_1/bias`, … `conv5_4/…` (files without the later layers may stop at conv5_1). Every loader in this
 * folder returns one and leaves the network's own checks to `checkVgg19Weights`.
 */
export interface Vgg19Weights {
  weights: WeightMap;
  /** How the file's framework fed images to the network (channel order, mean, scale). */
  preprocessing: Vgg19Preprocessing;
  /** The file format, for messages and `--json` ('visage': our own model folder, see saveVgg19Weights). */
  format: Vgg19WeightFormat;
  /** Things the user should know that do not stop the load (e.g. an unusual mean pixel in a .mat). */
  warnings?: string[];
}

export type Vgg19WeightFormat = 'keras-h5' | 'matconvnet' | 'pytorch' | 'tfjs' | 'visage';
