/**
 * dlib's face recognition ResNet (dlib_face_recognition_resnet_model_v1, as converted by face-api.js)
 * as a NetworkDef. 29 conv layers in 4 stages (32, 64, 128, 256 channels); every conv is followed by a
 * per-channel affine "scale" layer (dlib's inference form of batch-norm); down-sampling blocks use a
 * stride-2 'valid' conv on the main path and a 2×2 average pool, zero-padded to the new channel count,
 * on the shortcut (dlib's add_prev pads the smaller tensor with zeros, which face-api reproduces by
 * appending a zero row and column to the main path when the two disagree in size). 150×150 RGB in,
 * 128-D out.
 */
import type { GraphNode, NetworkDef, WeightMap } from '../../engine/graph/types.js';
import { loadFaceApiWeights, take } from './faceapi-weights.js';

export const DLIB_RESNET_INPUT = 150;
/** face-api's per-channel means (dlib's input_rgb_image_sized) and its divisor (255; dlib uses 256). */
export const DLIB_MEAN_RGB = [122.782, 117.001, 104.298] as const;
export const DLIB_SCALE = 1 / 255;

const MODEL = 'face_recognition_model';

const STAGES: Array<{ name: string; filters: number; down: boolean }> = [
  { name: 'conv32_1', filters: 32, down: false },
  { name: 'conv32_2', filters: 32, down: false },
  { name: 'conv32_3', filters: 32, down: false },
  { name: 'conv64_down', filters: 64, down: true },
  { name: 'conv64_1', filters: 64, down: false },
  { name: 'conv64_2', filters: 64, down: false },
  { name: 'conv64_3', filters: 64, down: false },
  { name: 'conv128_down', filters: 128, down: true },
  { name: 'conv128_1', filters: 128, down: false },
  { name: 'conv128_2', filters: 128, down: false },
  { name: 'conv256_down', filters: 256, down: true },
  { name: 'conv256_1', filters: 256, down: false },
  { name: 'conv256_2', filters: 256, down: false },
  { name: 'conv256_down_out', filters: 256, down: true },
];

/** Names of the conv → scale pairs, in network order (conv32_down, then conv1/conv2 of every block). */
function convLayers(): string[] {
  return ['conv32_down', ...STAGES.flatMap((s) => [`${s.name}/conv1`, `${s.name}/conv2`])];
}

/**
 * The network. Input: RGB 0..255 (float), [150, 150, 3]. Outputs `embedding` (L2-normalised);
 * the raw descriptor (what dlib and face-api return) is the `fc` tap.
 */
export function dlibResnetDef(): NetworkDef {
  const nodes: GraphNode[] = [
    { op: 'input', name: 'image', shape: [DLIB_RESNET_INPUT, DLIB_RESNET_INPUT, 3] },
    // (x − mean) / 255 as one affine node, so the definition holds the whole computation.
    { op: 'affine', name: 'normalize', input: 'image' },
  ];
  const valid = (n: number, k: number, s: number) => Math.floor((n - k) / s) + 1;
  /** conv → scale (→ relu); returns the last node's name. */
  const convLayer = (
    prefix: string,
    input: string,
    filters: number,
    kernel: number,
    stride: number,
    relu: boolean,
  ): string => {
    nodes.push({
      op: 'conv2d',
      name: `${prefix}/conv`,
      input,
      filters,
      kernel,
      strides: stride,
      padding: stride === 1 ? 'same' : 'valid',
      bias: true,
    });
    nodes.push({ op: 'affine', name: `${prefix}/scale`, input: `${prefix}/conv` });
    if (!relu) return `${prefix}/scale`;
    nodes.push({ op: 'activation', name: `${prefix}/relu`, input: `${prefix}/scale`, fn: 'relu' });
    return `${prefix}/relu`;
  };

  let x = convLayer('conv32_down', 'normalize', 32, 7, 2, true);
  let size = valid(DLIB_RESNET_INPUT, 7, 2);
  nodes.push({ op: 'maxPool', name: 'pool', input: x, size: 3, strides: 2, padding: 'valid' });
  x = 'pool';
  size = valid(size, 3, 2);
  let channels = 32;

  for (const s of STAGES) {
    const stride = s.down ? 2 : 1;
    let main = convLayer(`${s.name}/conv1`, x, s.filters, 3, stride, true);
    main = convLayer(`${s.name}/conv2`, main, s.filters, 3, 1, false);
    let shortcut = x;
    if (s.down) {
      const convSize = valid(size, 3, 2);
      const poolSize = valid(size, 2, 2);
      if (convSize !== poolSize) {
        const d = poolSize - convSize;
        nodes.push({
          op: 'pad',
          name: `${s.name}/pad`,
          input: main,
          pads: [
            [0, d],
            [0, d],
          ],
        });
        main = `${s.name}/pad`;
      }
      nodes.push({ op: 'avgPool', name: `${s.name}/pool`, input: x, size: 2, strides: 2, padding: 'valid' });
      shortcut = `${s.name}/pool`;
      if (s.filters !== channels) {
        nodes.push({
          op: 'padChannels',
          name: `${s.name}/pad_channels`,
          input: shortcut,
          channels: s.filters,
        });
        shortcut = `${s.name}/pad_channels`;
      }
      size = poolSize;
    }
    nodes.push({ op: 'add', name: `${s.name}/add`, inputs: [main, shortcut], activation: 'relu' });
    x = `${s.name}/add`;
    channels = s.filters;
  }
  nodes.push({ op: 'globalAvgPool', name: 'gap', input: x });
  nodes.push({ op: 'dense', name: 'fc', input: 'gap', units: 128, bias: false });
  nodes.push({ op: 'l2normalize', name: 'embedding', input: 'fc' });
  return { name: 'dlib-resnet34', nodes, outputs: ['embedding'] };
}

/** Maps face-api's weight names onto the definition's (`<node>/<role>`). */
export function dlibResnetWeights(raw: WeightMap): WeightMap {
  const w: WeightMap = new Map();
  w.set('normalize/scale', { shape: [3], data: Float32Array.from([DLIB_SCALE, DLIB_SCALE, DLIB_SCALE]) });
  w.set('normalize/offset', { shape: [3], data: Float32Array.from(DLIB_MEAN_RGB, (m) => -m * DLIB_SCALE) });
  for (const p of convLayers()) {
    w.set(`${p}/conv/kernel`, take(raw, `${p}/conv/filters`, MODEL));
    w.set(`${p}/conv/bias`, take(raw, `${p}/conv/bias`, MODEL));
    w.set(`${p}/scale/scale`, take(raw, `${p}/scale/weights`, MODEL));
    w.set(`${p}/scale/offset`, take(raw, `${p}/scale/biases`, MODEL));
  }
  w.set('fc/kernel', take(raw, 'fc', MODEL));
  return w;
}

export function loadDlibResnet(dir?: string): { def: NetworkDef; weights: WeightMap } {
  return { def: dlibResnetDef(), weights: dlibResnetWeights(loadFaceApiWeights(MODEL, dir)) };
}
