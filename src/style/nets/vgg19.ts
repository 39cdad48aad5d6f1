import * as tf from '@tensorflow/tfjs-core';
import { initWeights, type GraphNode, type NetworkDef, type WeightMap } from '../../engine/graph/index.js';
import { VisageError } from '../../errors.js';
import { GraphFeatureNet, type PreprocessSpec, type TransferDefaults } from '../feature-net.js';

/**
 * VGG-19's convolutional part (Simonyan & Zisserman 2014), the network of Gatys et al. and of the course.
 * Node names follow the paper/MatConvNet convention: conv1_1 … conv5_4 (3×3 'same' convolution with its
 * ReLU fused, so tapping conv4_2 gives relu4_2 as in the paper) and pool1 … pool5. Weights are not
 * shipped by any package; they come from the user (see the loaders) or are random for timing.
 */
export const VGG19_BLOCKS: ReadonlyArray<readonly [filters: number, convs: number]> = [
  [64, 2],
  [128, 2],
  [256, 4],
  [512, 4],
  [512, 4],
];

export const VGG19_CONV_LAYERS: readonly string[] = VGG19_BLOCKS.flatMap(([, n], b) =>
  Array.from({ length: n }, (_, i) => `conv${b + 1}_${i + 1}`),
);

export interface Vgg19DefOptions {
  /** Gatys et al. replace max-pooling by average pooling for slightly smoother results. Default 'max'. */
  pooling?: 'max' | 'avg';
  /** Last node to build (default pool5). */
  until?: string;
}

export function vgg19Def(opts: Vgg19DefOptions = {}): NetworkDef {
  const nodes: GraphNode[] = [{ op: 'input', name: 'image', shape: [null, null, 3] }];
  let prev = 'image';
  const until = opts.until ?? 'pool5';
  outer: for (const [b, [filters, n]] of VGG19_BLOCKS.entries()) {
    for (let i = 1; i <= n; i++) {
      const name = `conv${b + 1}_${i}`;
      nodes.push({
        op: 'conv2d',
        name,
        input: prev,
        filters,
        kernel: 3,
        padding: 'same',
        bias: true,
        activation: 'relu',
      });
      prev = name;
      if (name === until) break outer;
    }
    const pool = `pool${b + 1}`;
    nodes.push({
      op: opts.pooling === 'avg' ? 'avgPool' : 'maxPool',
      name: pool,
      input: prev,
      size: 2,
      strides: 2,
      padding: 'valid',
    });
    prev = pool;
    if (pool === until) break;
  }
  if (prev !== until)
    throw new VisageError('E_UNKNOWN_LAYER', `VGG-19 has no layer "${until}"`, {
      layer: until,
      network: 'vgg19',
    });
  return { name: 'vgg19', nodes, outputs: [prev] };
}

/** How the weights' original framework fed images to VGG-19. */
export type Vgg19Preprocessing =
  /** Caffe/Keras: BGR, 0..255, minus the ImageNet mean pixel. */
  | 'caffe'
  /** MatConvNet: RGB, 0..255, minus the same mean pixel (its `normalization.averageImage`). */
  | 'matconvnet'
  /** torchvision: RGB, 0..1, normalised by the ImageNet mean and std. */
  | 'torch';

const CAFFE_MEAN_BGR = [103.939, 116.779, 123.68];
const TORCH_MEAN = [0.485, 0.456, 0.406];
const TORCH_STD = [0.229, 0.224, 0.225];

/** vgg19Preprocess(kind) as data (the onnx engine and the PyTorch peer apply it). */
export function vgg19PreprocessSpec(kind: Vgg19Preprocessing): PreprocessSpec {
  if (kind === 'caffe')
    return {
      perm: [2, 1, 0],
      scale: [1, 1, 1],
      offset: [-CAFFE_MEAN_BGR[0], -CAFFE_MEAN_BGR[1], -CAFFE_MEAN_BGR[2]],
    };
  if (kind === 'matconvnet')
    return {
      perm: [0, 1, 2],
      scale: [1, 1, 1],
      offset: [-CAFFE_MEAN_BGR[2], -CAFFE_MEAN_BGR[1], -CAFFE_MEAN_BGR[0]],
    };
  const s = (c: number) => 1 / (255 * TORCH_STD[c]);
  const o = (c: number) => -TORCH_MEAN[c] / TORCH_STD[c];
  return { perm: [0, 1, 2], scale: [s(0), s(1), s(2)], offset: [o(0), o(1), o(2)] };
}

export function vgg19Preprocess(kind: Vgg19Preprocessing): (rgb: tf.Tensor4D) => tf.Tensor4D {
  if (kind === 'caffe')
    return (rgb) => tf.tidy(() => tf.sub(tf.reverse(rgb, -1), tf.tensor1d(CAFFE_MEAN_BGR)) as tf.Tensor4D);
  if (kind === 'matconvnet')
    return (rgb) => tf.tidy(() => tf.sub(rgb, tf.tensor1d([...CAFFE_MEAN_BGR].reverse())) as tf.Tensor4D);
  return (rgb) =>
    tf.tidy(
      () => tf.div(tf.sub(tf.div(rgb, 255), tf.tensor1d(TORCH_MEAN)), tf.tensor1d(TORCH_STD)) as tf.Tensor4D,
    );
}

/** Gatys et al.'s choice, also the course's: content conv4_2, style conv1_1 … conv5_1 with λ = 0.2 each. */
export const VGG19_DEFAULT_CONTENT = 'conv4_2';
export const VGG19_DEFAULT_STYLE: Record<string, number> = {
  conv1_1: 0.2,
  conv2_1: 0.2,
  conv3_1: 0.2,
  conv4_1: 0.2,
  conv5_1: 0.2,
};

/**
 * Optimisation defaults every VGG-19 FeatureNet carries (stylize() applies them): the classic Gatys/course setting rather
 * than stylize()'s InceptionV3 tuning (STYLE_DEFAULTS). The course (DLS C4W4) runs Adam with step 2 on the pixels of a
 * 0..255, mean-subtracted image (MatConvNet's weights), α = 10, β = 40 on its normalised costs (ours:
 * J_content / 4·n_H·n_W·n_C, J_style[l] / 4·n_C²·(n_H·n_W)²), λ = 0.2 on conv1_1…conv5_1, content
 * conv4_2, starting from the content image plus noise; neither it nor Gatys et al. use total variation.
 * VGG-19 needs none of the InceptionV3 remedies: its 3×3 'same' convolutions and 2×2 poolings leave no
 * grid artefacts to jitter away, and its layers' Gram costs stay within a few orders of magnitude on
 * these normalised costs. Assumes 0..255-scale preprocessing (Keras/Caffe, MatConvNet); torchvision
 * weights see ~58× smaller inputs, so their J_style/J_content balance differs (set α, β yourself).
 */
export const VGG19_STYLE_DEFAULTS = {
  contentWeight: 10,
  styleWeight: 40,
  tvWeight: 0,
  normalizeStyleLayers: 'none',
  smoothing: 'none',
  iterations: 150,
  optimizer: 'adam',
  parametrization: 'pixels',
  learningRate: 2,
  init: 'content',
  initNoise: 20,
  seed: 1,
  jitter: 0,
  styleScale: 1,
} as const satisfies TransferDefaults;

export interface Vgg19Options extends Vgg19DefOptions {
  preprocessing?: Vgg19Preprocessing;
  /** The network's name in results (e.g. which weights file it came from). Default "vgg19". */
  name?: string;
}

/**
 * A VGG-19 FeatureNet with the given weights (names `conv1_1/kernel` HWIO, `conv1_1/bias`), built up to
 * `until` (default conv5_1). Default layers are Gatys': content conv4_2, style conv1_1…conv5_1 (λ = 0.2),
 * restricted to those the network has, so a net cut after conv2_1 still works for early layers.
 */
export function vgg19FeatureNet(weights: WeightMap, opts: Vgg19Options = {}): GraphFeatureNet {
  const def = vgg19Def({ ...opts, until: opts.until ?? 'conv5_1' });
  if (opts.name) def.name = opts.name;
  // Layers past `until` (conv5_2 …) are not needed; keep their weights out of the engine.
  const nodes = new Set(def.nodes.map((n) => n.name));
  const used: WeightMap = new Map([...weights].filter(([k]) => nodes.has(k.slice(0, k.lastIndexOf('/')))));
  const style = Object.fromEntries(Object.entries(VGG19_DEFAULT_STYLE).filter(([l]) => nodes.has(l)));
  return new GraphFeatureNet(def, used, {
    preprocess: vgg19Preprocess(opts.preprocessing ?? 'caffe'),
    preprocessSpec: vgg19PreprocessSpec(opts.preprocessing ?? 'caffe'),
    defaultContentLayer: nodes.has(VGG19_DEFAULT_CONTENT) ? VGG19_DEFAULT_CONTENT : def.outputs[0],
    defaultStyleLayers: Object.keys(style).length ? style : { [def.outputs[0]]: 1 },
    transferDefaults: VGG19_STYLE_DEFAULTS,
  });
}

/** VGG-19 with He-initialised random weights: same cost per iteration as the real one (for benchmarks). */
export function randomVgg19(seed = 1, opts: Vgg19Options = {}): GraphFeatureNet {
  const def = vgg19Def({ ...opts, until: opts.until ?? 'conv5_1' });
  return vgg19FeatureNet(initWeights(def, [224, 224, 3], seed), opts);
}
