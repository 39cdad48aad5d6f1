import * as tf from '@tensorflow/tfjs-core';
import { foldBatchNorm, type NetworkDef, type WeightMap } from '../../engine/graph/index.js';
import { GraphFeatureNet, type PreprocessSpec } from '../feature-net.js';
import { kerasToNetworkDef, kerasWeightFilter, kerasWeights } from './keras-graph.js';
import { nsfwjsModelDir, readNsfwjsModel } from './nsfwjs-modules.js';
import { withReflectPadding } from './reflect-padding.js';

/**
 * The ImageNet-trained InceptionV3 trunk shipped (uint8-quantised) inside the npm package nsfwjs@4.4.0.
 * nsfwjs fine-tuned only the layers after about mixed5, so the trunk up to there is the ImageNet network.
 * Node names are the Keras layer names (conv2d_N, activation_N, max_pooling2d_N, mixedN, …).
 */
export const INCEPTION_V3_NAME = 'inception-v3-nsfwjs';

export interface InceptionV3Options {
  /** Last layer to build (default mixed5: the deepest layer whose weights are still ImageNet's). */
  until?: string;
  /** Folder holding nsfwjs' `model.min.js` and shards (default: the installed nsfwjs package). */
  dir?: string;
  /** Implicit 'same' zero padding (as trained) or reflect padding (fewer border artefacts). */
  padding?: 'zero' | 'reflect';
  /** Tap defaults; see DEFAULT_* below. */
  defaultContentLayer?: string;
  defaultStyleLayers?: Record<string, number>;
}

/**
 * Default taps, chosen by looking at results (docs/images/style/README.md): content at mixed3 (stride 16:
 * objects stay recognisable without pinning textures); style from activation_1 (colour and fine grain)
 * through mixed2 (strokes and swirls). mixed3+ as style layers add little at 256–512 px, where their maps
 * are only a few cells wide.
 */
export const INCEPTION_DEFAULT_CONTENT = 'mixed3';
export const INCEPTION_DEFAULT_STYLE: Record<string, number> = {
  activation_1: 1,
  activation_3: 1,
  mixed0: 1,
  mixed1: 1,
  mixed2: 1,
};

/** inceptionPreprocess as data (x/127.5 − 1 on each channel). */
export const INCEPTION_PREPROCESS: PreprocessSpec = {
  perm: [0, 1, 2],
  scale: [1 / 127.5, 1 / 127.5, 1 / 127.5],
  offset: [-1, -1, -1],
};

/** Keras' inception_v3.preprocess_input: RGB [0,255] → [-1, 1]. */
export function inceptionPreprocess(rgb: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => tf.sub(tf.div(rgb, 127.5), 1));
}

export interface LoadedKerasTrunk {
  /** As built from the Keras topology (batch-norm layers present). */
  def: NetworkDef;
  weights: WeightMap;
}

/** The raw (unfolded) trunk: useful to check the port against nsfwjs' own model. */
export function readInceptionV3(opts: { until?: string; dir?: string } = {}): LoadedKerasTrunk {
  const dir = opts.dir ?? nsfwjsModelDir('inception_v3');
  const until = opts.until ?? 'mixed5';
  let def: NetworkDef | undefined;
  const files = readNsfwjsModel(dir, (layers) => {
    def = kerasToNetworkDef(INCEPTION_V3_NAME, layers, [until]);
    return (w) => kerasWeightFilter(def!)(w);
  });
  return { def: def!, weights: kerasWeights(def!, files.weights) };
}

/** Load the trunk as a FeatureNet, batch-norm folded into the convolutions (no gamma → bad tfjs gradients). */
export function loadInceptionV3(opts: InceptionV3Options = {}): GraphFeatureNet {
  const raw = readInceptionV3(opts);
  const bnInput = new Map<string, string>();
  for (const n of raw.def.nodes) if (n.op === 'batchNorm') bnInput.set(n.name, n.input);
  const folded = foldBatchNorm(raw.def, raw.weights);
  const present = new Set(folded.def.nodes.map((n) => n.name));
  // Folded batch-norms stay tappable: their output is now the convolution's.
  const aliases = new Map<string, string>();
  for (const [bn, conv] of bnInput) if (!present.has(bn)) aliases.set(bn, conv);
  const def = opts.padding === 'reflect' ? withReflectPadding(folded.def) : folded.def;
  return new GraphFeatureNet(def, folded.weights, {
    preprocess: inceptionPreprocess,
    preprocessSpec: INCEPTION_PREPROCESS,
    defaultContentLayer: opts.defaultContentLayer ?? INCEPTION_DEFAULT_CONTENT,
    defaultStyleLayers: opts.defaultStyleLayers ?? INCEPTION_DEFAULT_STYLE,
    aliases,
  });
}
