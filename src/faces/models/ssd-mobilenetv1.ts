/**
 * face-api's face detector: an SSD head on MobileNetV1 (depth multiplier 1), trained on WIDER FACE, as a
 * NetworkDef. The graph stops at the raw head outputs — per feature level a box-encoding map
 * [H, W, A·4] and a class-logit map [H, W, A·3] — and decoding against the anchors, scoring and NMS
 * happen in `detector/ssd-detector.ts`, where they can follow the actual input size.
 */
import type { GraphNode, NetworkDef, WeightMap } from '../../engine/graph/types.js';
import { loadFaceApiWeights, take } from './faceapi-weights.js';

export const SSD_INPUT = 512;
/** Batch-norm epsilon of the TF Object Detection API export (float32 of 1e-3). */
const BN_EPSILON = 0.0010000000474974513;
const MODEL = 'ssd_mobilenetv1_model';

/** MobileNetV1 blocks whose depthwise conv has stride 2. */
const STRIDE2 = new Set([2, 4, 6, 12]);
const FILTERS = [32, 64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024];
/** Extra SSD feature layers: [filters, kernel, stride]. */
const EXTRA: Array<[number, number, number]> = [
  [256, 1, 1],
  [512, 3, 2],
  [128, 1, 1],
  [256, 3, 2],
  [128, 1, 1],
  [256, 3, 2],
  [64, 1, 1],
  [128, 3, 2],
];
/** The six feature maps the box predictors read, finest first, and their anchors per cell. */
export const SSD_HEADS: Array<{ source: string; anchors: number }> = [
  { source: 'mobilenet/conv_11', anchors: 3 },
  { source: 'mobilenet/conv_13', anchors: 6 },
  { source: 'extra/conv_1', anchors: 6 },
  { source: 'extra/conv_3', anchors: 6 },
  { source: 'extra/conv_5', anchors: 6 },
  { source: 'extra/conv_7', anchors: 6 },
];

/** Cumulative stride (input pixels per cell) of each head's feature map. */
export const SSD_STRIDES = [16, 32, 64, 128, 256, 512] as const;

/** Output names of head `i`: box encodings and class logits. */
export const ssdHeadOutputs = (i: number): [string, string] => [`head_${i}/box`, `head_${i}/class`];

/** Input: RGB 0..255 (float), any size (face-api feeds 512×512). */
export function ssdMobilenetV1Def(): NetworkDef {
  const nodes: GraphNode[] = [
    { op: 'input', name: 'image', shape: [null, null, 3] },
    // x / 127.5 − 1
    { op: 'affine', name: 'normalize', input: 'image' },
    {
      op: 'conv2d',
      name: 'mobilenet/conv_0',
      input: 'normalize',
      filters: FILTERS[0],
      kernel: 3,
      strides: 2,
      padding: 'same',
      bias: true,
      activation: 'relu6',
    },
  ];
  let x = 'mobilenet/conv_0';
  for (let i = 1; i <= 13; i++) {
    const p = `mobilenet/conv_${i}`;
    nodes.push(
      {
        op: 'depthwiseConv2d',
        name: `${p}/depthwise`,
        input: x,
        kernel: 3,
        strides: STRIDE2.has(i) ? 2 : 1,
        padding: 'same',
      },
      { op: 'batchNorm', name: `${p}/bn`, input: `${p}/depthwise`, epsilon: BN_EPSILON },
      { op: 'activation', name: `${p}/relu6`, input: `${p}/bn`, fn: 'relu6' },
      // The pointwise convs' batch-norm was folded into a bias by the exporter.
      {
        op: 'conv2d',
        name: p,
        input: `${p}/relu6`,
        filters: FILTERS[i],
        kernel: 1,
        padding: 'same',
        bias: true,
        activation: 'relu6',
      },
    );
    x = p;
  }
  EXTRA.forEach(([filters, kernel, strides], i) => {
    nodes.push({
      op: 'conv2d',
      name: `extra/conv_${i}`,
      input: x,
      filters,
      kernel,
      strides,
      padding: 'same',
      bias: true,
      activation: 'relu6',
    });
    x = `extra/conv_${i}`;
  });
  const outputs: string[] = [];
  SSD_HEADS.forEach(({ source, anchors }, i) => {
    const [box, cls] = ssdHeadOutputs(i);
    nodes.push(
      {
        op: 'conv2d',
        name: box,
        input: source,
        filters: anchors * 4,
        kernel: 1,
        padding: 'same',
        bias: true,
      },
      {
        op: 'conv2d',
        name: cls,
        input: source,
        filters: anchors * 3,
        kernel: 1,
        padding: 'same',
        bias: true,
      },
    );
    outputs.push(box, cls);
  });
  return { name: 'ssd-mobilenetv1-face', nodes, outputs };
}

export function ssdMobilenetV1Weights(raw: WeightMap): WeightMap {
  const w: WeightMap = new Map();
  const t = (name: string) => take(raw, name, MODEL);
  w.set('normalize/scale', { shape: [3], data: new Float32Array(3).fill(1 / 127.5) });
  w.set('normalize/offset', { shape: [3], data: new Float32Array(3).fill(-1) });
  for (let i = 0; i <= 13; i++) {
    const src = `MobilenetV1/Conv2d_${i}`;
    const p = `mobilenet/conv_${i}`;
    w.set(`${p}/kernel`, t(`${src}_pointwise/weights`));
    w.set(`${p}/bias`, t(`${src}_pointwise/convolution_bn_offset`));
    if (i === 0) continue;
    w.set(`${p}/depthwise/kernel`, t(`${src}_depthwise/depthwise_weights`));
    w.set(`${p}/bn/gamma`, t(`${src}_depthwise/BatchNorm/gamma`));
    w.set(`${p}/bn/beta`, t(`${src}_depthwise/BatchNorm/beta`));
    w.set(`${p}/bn/mean`, t(`${src}_depthwise/BatchNorm/moving_mean`));
    w.set(`${p}/bn/variance`, t(`${src}_depthwise/BatchNorm/moving_variance`));
  }
  for (let i = 0; i < EXTRA.length; i++) {
    w.set(`extra/conv_${i}/kernel`, t(`Prediction/Conv2d_${i}_pointwise/weights`));
    w.set(`extra/conv_${i}/bias`, t(`Prediction/Conv2d_${i}_pointwise/convolution_bn_offset`));
  }
  for (let i = 0; i < SSD_HEADS.length; i++) {
    const [box, cls] = ssdHeadOutputs(i);
    w.set(`${box}/kernel`, t(`Prediction/BoxPredictor_${i}/BoxEncodingPredictor/weights`));
    w.set(`${box}/bias`, t(`Prediction/BoxPredictor_${i}/BoxEncodingPredictor/biases`));
    w.set(`${cls}/kernel`, t(`Prediction/BoxPredictor_${i}/ClassPredictor/weights`));
    w.set(`${cls}/bias`, t(`Prediction/BoxPredictor_${i}/ClassPredictor/biases`));
  }
  return w;
}

export interface SsdModel {
  def: NetworkDef;
  weights: WeightMap;
  /** The anchors face-api's converter baked into the model for 512×512 input: [5118, 4] (ymin, xmin, ymax, xmax). */
  exportedAnchors: Float32Array;
}

export function loadSsdMobilenetV1(dir?: string): SsdModel {
  const raw = loadFaceApiWeights(MODEL, dir);
  return {
    def: ssdMobilenetV1Def(),
    weights: ssdMobilenetV1Weights(raw),
    exportedAnchors: take(raw, 'Output/extra_dim', MODEL).data,
  };
}
