import * as tf from '@tensorflow/tfjs-core';
import { envEngine } from '../config.js';
import { VisageError } from '../errors.js';
import { TfjsNetwork, type NetworkDef, type WeightMap } from '../engine/graph/index.js';
import type { TransferOptions } from './options.js';

/** Optimisation settings a network was tuned with; stylize() uses them where the caller sets nothing. */
export type TransferDefaults = Partial<
  Pick<
    TransferOptions,
    | 'contentWeight'
    | 'styleWeight'
    | 'tvWeight'
    | 'normalizeStyleLayers'
    | 'smoothing'
    | 'optimizer'
    | 'parametrization'
    | 'learningRate'
    | 'init'
    | 'initNoise'
    | 'seed'
    | 'jitter'
    | 'styleScale'
  > & { iterations: number }
>;

/**
 * A network whose hidden activations define the content and style costs. Everything is differentiable
 * with respect to the input pixels, which is all style transfer needs (weights stay frozen).
 */
export interface FeatureNet {
  readonly name: string;
  /** Names that can be tapped (node names of the network, plus aliases such as folded batch-norms). */
  readonly layers: readonly string[];
  /** Defaults chosen for this network (see the network's module for why). */
  readonly defaultContentLayer: string;
  readonly defaultStyleLayers: Readonly<Record<string, number>>;
  /** Optimisation defaults that differ from stylize()'s (tuned on InceptionV3), e.g. VGG-19's course setting. */
  readonly transferDefaults?: Readonly<TransferDefaults>;
  /** RGB pixels in [0, 255], NHWC float32 → the network's input convention. Differentiable. */
  preprocess(rgb: tf.Tensor4D): tf.Tensor4D;
  /** Activations at `taps` of a preprocessed batch; only the nodes they depend on are computed. */
  forward(x: tf.Tensor4D, taps: readonly string[]): Record<string, tf.Tensor4D>;
  /** Throws E_UNKNOWN_LAYER for a name that is not a layer of this network. */
  checkLayers(names: readonly string[]): void;
  dispose(): void;
}

/**
 * A preprocess that is a channel permutation and a per-channel affine map, as data, so that executors other
 * than tfjs (the onnx style engine, the PyTorch peer) apply the same one: y[c] = x[perm[c]]·scale[c] + offset[c].
 */
export interface PreprocessSpec {
  perm: [number, number, number];
  scale: [number, number, number];
  offset: [number, number, number];
}

export interface GraphFeatureNetOptions {
  preprocess: (rgb: tf.Tensor4D) => tf.Tensor4D;
  /** The same preprocess as data; without it the network runs on the tfjs engine only. */
  preprocessSpec?: PreprocessSpec;
  defaultContentLayer: string;
  defaultStyleLayers: Record<string, number>;
  transferDefaults?: TransferDefaults;
  /** Extra tap names that resolve to a node (e.g. a batch-norm folded into its convolution). */
  aliases?: Map<string, string>;
}

/**
 * A FeatureNet over one of our executor-independent NetworkDefs. `forward` runs the tfjs executor (made on
 * first use); the onnx style engine (onnx-objective.ts) builds its graphs from `def` and `weights`.
 */
export class GraphFeatureNet implements FeatureNet {
  readonly name: string;
  readonly layers: readonly string[];
  readonly defaultContentLayer: string;
  readonly defaultStyleLayers: Readonly<Record<string, number>>;
  readonly transferDefaults?: Readonly<TransferDefaults>;
  readonly def: NetworkDef;
  readonly weights: WeightMap;
  readonly preprocessSpec?: PreprocessSpec;
  private tfjs?: TfjsNetwork;
  private readonly aliases: Map<string, string>;
  private readonly known: Set<string>;
  private readonly pre: (rgb: tf.Tensor4D) => tf.Tensor4D;

  constructor(def: NetworkDef, weights: WeightMap, opts: GraphFeatureNetOptions) {
    this.name = def.name;
    this.def = def;
    this.weights = weights;
    this.preprocessSpec = opts.preprocessSpec;
    // On the tfjs engine the executor is needed at once; on onnx only for the tfjs-only paths (if ever).
    if (envEngine() === 'tfjs' || !opts.preprocessSpec) void this.network;
    this.aliases = opts.aliases ?? new Map();
    const nodes = def.nodes.filter((n) => n.op !== 'input').map((n) => n.name);
    this.layers = [...nodes, ...this.aliases.keys()];
    this.known = new Set(this.layers);
    this.pre = opts.preprocess;
    this.defaultContentLayer = opts.defaultContentLayer;
    this.defaultStyleLayers = { ...opts.defaultStyleLayers };
    this.transferDefaults = opts.transferDefaults;
    this.checkLayers([this.defaultContentLayer, ...Object.keys(this.defaultStyleLayers)]);
  }

  /** The tfjs executor, built on first use (the onnx engine never needs its copy of the weights). */
  get network(): TfjsNetwork {
    this.tfjs ??= new TfjsNetwork(this.def, this.weights);
    return this.tfjs;
  }

  /** The node a tap name stands for (an alias such as a folded batch norm resolves to its convolution). */
  resolveLayer(name: string): string {
    return this.aliases.get(name) ?? name;
  }

  preprocess(rgb: tf.Tensor4D): tf.Tensor4D {
    return this.pre(rgb);
  }

  checkLayers(names: readonly string[]): void {
    for (const n of names) {
      if (!this.known.has(n)) {
        const near = this.layers.filter((l) => l.startsWith(n.replace(/\d+$/, ''))).slice(0, 8);
        throw new VisageError(
          'E_UNKNOWN_LAYER',
          `network ${this.name} has no layer "${n}"${near.length ? ` (e.g. ${near.join(', ')})` : ''}`,
          { layer: n, network: this.name },
        );
      }
    }
  }

  forward(x: tf.Tensor4D, taps: readonly string[]): Record<string, tf.Tensor4D> {
    this.checkLayers(taps);
    const resolved = taps.map((t) => this.aliases.get(t) ?? t);
    // Weights are frozen: convolutions keep only their outputs for the backward pass and compute input
    // gradients alone (about a third of the memory of plain ops; a 1024-px step fits the wasm heap).
    const out = this.network.forward(x, {
      outputs: [...new Set(resolved)],
      frozenWeights: true,
      unfused: true,
    });
    const result: Record<string, tf.Tensor4D> = {};
    taps.forEach((t, i) => (result[t] = out[resolved[i]] as tf.Tensor4D));
    return result;
  }

  dispose(): void {
    this.tfjs?.dispose();
    this.tfjs = undefined;
  }
}
