/**
 * The pretrained dlib ResNet-34 face encoder (face-api's weights, src/faces/models/dlib-resnet.ts) as a
 * training network, so `visage train --encoder finetune --model dlib` starts from exactly the encoder the
 * faces pipeline uses: same 150×150 dlib-aligned chip, same per-channel normalisation, same L2-normalised
 * `fc` descriptor.
 *
 * Training images arrive normalised as x·PIXEL_SCALE + PIXEL_OFFSET (∈ [−1, 1]); dlib wants
 * (pixel − mean)·DLIB_SCALE. Rather than a 0…255 bridge in front of the network, the network's own
 * `normalize` affine is rewritten to map training pixels straight to dlib's values, and kept fixed: the
 * saved model (input_norm, then this affine) computes dlib's normalisation again, to float rounding.
 */
import type { NetworkDef, WeightMap } from '../../engine/graph/index.js';
import { DLIB_MEAN_RGB, DLIB_SCALE, loadDlibResnet } from '../../faces/models/dlib-resnet.js';
import { PIXEL_OFFSET, PIXEL_SCALE } from '../data/index.js';

/** The name `--model` gives the built-in dlib encoder (a folder called so needs a path: `./dlib`). */
export const DLIB_MODEL_NAME = 'dlib';

/** The input-normalisation node of the dlib network: never trained. */
export const DLIB_NORMALIZE_NODE = 'normalize';

export interface PretrainedNetwork {
  def: NetworkDef;
  weights: WeightMap;
  /** Nodes whose weights stay fixed whatever --freeze says (input normalisation). */
  fixed: string[];
}

/**
 * The dlib encoder reading training-normalised pixels. Its weight blocks for --freeze (see weightBlocks:
 * the node-name prefix before the first '/') are, in order: the stem conv `conv32_down`, the 14 residual
 * blocks `conv32_1…3`, `conv64_down`, `conv64_1…3`, `conv128_down`, `conv128_1…2`, `conv256_down`,
 * `conv256_1…2`, `conv256_down_out`, and the 128-d projection `fc`: 16 blocks, so --freeze 15 trains fc
 * alone.
 */
export function dlibTrainingNetwork(modelDir?: string): PretrainedNetwork {
  const { def, weights } = loadDlibResnet(modelDir);
  // A training pixel is x = p·PIXEL_SCALE + PIXEL_OFFSET, so dlib's (p − m)·s is
  // x·(s/PIXEL_SCALE) + (−PIXEL_OFFSET/PIXEL_SCALE − m)·s.
  const scale = DLIB_SCALE / PIXEL_SCALE;
  const w = new Map(weights);
  w.set(`${DLIB_NORMALIZE_NODE}/scale`, { shape: [3], data: new Float32Array(3).fill(scale) });
  w.set(`${DLIB_NORMALIZE_NODE}/offset`, {
    shape: [3],
    data: Float32Array.from(DLIB_MEAN_RGB, (m) => (-PIXEL_OFFSET / PIXEL_SCALE - m) * DLIB_SCALE),
  });
  return { def: { ...def, outputs: ['embedding'] }, weights: w, fixed: [DLIB_NORMALIZE_NODE] };
}
