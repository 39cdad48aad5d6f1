/**
 * face-api's 68-point landmark regressor (face_landmark_68_model) as a NetworkDef: four "dense blocks"
 * of depthwise-separable convs with additive skip connections (112 → 56 → 28 → 14 → 7), a 7×7 average
 * pool and a fully connected layer emitting 136 values — (x, y) of each point in [0, 1] of the input.
 */
import type { GraphNode, NetworkDef, WeightMap } from '../../engine/graph/types.js';
import { DLIB_MEAN_RGB, DLIB_SCALE } from './dlib-resnet.js';
import { loadFaceApiWeights, take } from './faceapi-weights.js';

export const LANDMARK_INPUT = 112;
const MODEL = 'face_landmark_68_model';
const BLOCKS: Array<[string, number]> = [
  ['dense0', 32],
  ['dense1', 64],
  ['dense2', 128],
  ['dense3', 256],
];

/** Input: RGB 0..255 (float), [112, 112, 3]. Output `landmarks`: [136] = x0, y0, x1, y1, … in [0, 1]. */
export function landmark68Def(): NetworkDef {
  const nodes: GraphNode[] = [
    { op: 'input', name: 'image', shape: [LANDMARK_INPUT, LANDMARK_INPUT, 3] },
    // Same normalisation as the recognition net: (x − mean) / 255.
    { op: 'affine', name: 'normalize', input: 'image' },
  ];
  /** Depthwise 3×3 (no bias) then pointwise 1×1 with bias: tf.separableConv2d + bias. */
  const separable = (name: string, input: string, filters: number, stride: number, relu: boolean): string => {
    nodes.push(
      {
        op: 'depthwiseConv2d',
        name: `${name}/depthwise`,
        input,
        kernel: 3,
        strides: stride,
        padding: 'same',
      },
      {
        op: 'conv2d',
        name,
        input: `${name}/depthwise`,
        filters,
        kernel: 1,
        padding: 'same',
        bias: true,
        activation: relu ? 'relu' : 'linear',
      },
    );
    return name;
  };
  let x = 'normalize';
  for (const [b, filters] of BLOCKS) {
    let out1: string;
    if (b === 'dense0') {
      out1 = `${b}/conv0`;
      nodes.push({
        op: 'conv2d',
        name: out1,
        input: x,
        filters,
        kernel: 3,
        strides: 2,
        padding: 'same',
        bias: true,
        activation: 'relu',
      });
    } else {
      out1 = separable(`${b}/conv0`, x, filters, 2, true);
    }
    const out2 = separable(`${b}/conv1`, out1, filters, 1, false);
    nodes.push({ op: 'add', name: `${b}/in3`, inputs: [out1, out2], activation: 'relu' });
    const out3 = separable(`${b}/conv2`, `${b}/in3`, filters, 1, false);
    nodes.push({ op: 'add', name: `${b}/in4`, inputs: [out1, out2, out3], activation: 'relu' });
    const out4 = separable(`${b}/conv3`, `${b}/in4`, filters, 1, false);
    nodes.push({ op: 'add', name: `${b}/out`, inputs: [out1, out2, out3, out4], activation: 'relu' });
    x = `${b}/out`;
  }
  nodes.push({ op: 'avgPool', name: 'pool', input: x, size: 7, strides: 2, padding: 'valid' });
  nodes.push({ op: 'dense', name: 'landmarks', input: 'pool', units: 136 });
  return { name: 'faceapi-landmark68', nodes, outputs: ['landmarks'] };
}

export function landmark68Weights(raw: WeightMap): WeightMap {
  const t = (name: string) => take(raw, name, MODEL);
  const w: WeightMap = new Map();
  w.set('normalize/scale', { shape: [3], data: Float32Array.from([DLIB_SCALE, DLIB_SCALE, DLIB_SCALE]) });
  w.set('normalize/offset', { shape: [3], data: Float32Array.from(DLIB_MEAN_RGB, (m) => -m * DLIB_SCALE) });
  for (const [b] of BLOCKS) {
    for (let c = 0; c < 4; c++) {
      const p = `${b}/conv${c}`;
      if (b === 'dense0' && c === 0) {
        w.set(`${p}/kernel`, t(`${p}/filters`));
      } else {
        w.set(`${p}/depthwise/kernel`, t(`${p}/depthwise_filter`));
        w.set(`${p}/kernel`, t(`${p}/pointwise_filter`));
      }
      w.set(`${p}/bias`, t(`${p}/bias`));
    }
  }
  w.set('landmarks/kernel', t('fc/weights'));
  w.set('landmarks/bias', t('fc/bias'));
  return w;
}

export function loadLandmark68(dir?: string): { def: NetworkDef; weights: WeightMap } {
  return { def: landmark68Def(), weights: landmark68Weights(loadFaceApiWeights(MODEL, dir)) };
}
