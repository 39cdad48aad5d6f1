import * as tf from '@tensorflow/tfjs-core';
import { VisageError } from '../../errors.js';
import {
  nodeInputs,
  pair,
  type Activation,
  type ActivationNode,
  type Conv2dNode,
  type GraphNode,
  type NetworkDef,
  type Padding,
  type WeightMap,
} from './types.js';

type ConvPad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];

function convPad(p: Padding): ConvPad {
  return typeof p === 'string' ? p : [[0, 0], p[0], p[1], [0, 0]];
}

function fusedAct(a: Activation | undefined): tf.fused.Activation | undefined {
  return a === undefined || a === 'linear' ? undefined : (a as tf.fused.Activation);
}

function activate(x: tf.Tensor, fn: Activation | undefined, alpha = 0.2): tf.Tensor {
  switch (fn) {
    case undefined:
    case 'linear':
      return x;
    case 'relu':
      return tf.relu(x);
    case 'relu6':
      return tf.relu6(x);
    case 'leakyRelu':
      return tf.leakyRelu(x, alpha);
    case 'sigmoid':
      return tf.sigmoid(x);
    case 'tanh':
      return tf.tanh(x);
    case 'elu':
      return tf.elu(x);
  }
}

/** ∂act/∂z · dy expressed through the activation's output y (so only y needs to be kept). */
function activationGrad(dy: tf.Tensor, y: tf.Tensor, fn: Activation, alpha = 0.2): tf.Tensor {
  switch (fn) {
    case 'linear':
      return dy;
    case 'relu':
      return tf.mul(dy, tf.step(y));
    case 'relu6':
      return tf.mul(dy, tf.cast(tf.logicalAnd(tf.greater(y, 0), tf.less(y, 6)), 'float32'));
    case 'leakyRelu':
      return tf.mul(dy, tf.step(y, alpha));
    case 'sigmoid':
      return tf.mul(dy, tf.mul(y, tf.sub(1, y)));
    case 'tanh':
      return tf.mul(dy, tf.sub(1, tf.square(y)));
    case 'elu':
      return tf.mul(dy, tf.where(tf.greater(y, 0), tf.onesLike(y), tf.add(y, 1)));
  }
}

export interface ForwardOptions {
  /** Node names to return; default: the network's outputs. Only the nodes they need are computed. */
  outputs?: string[];
  /** Training mode: batch-norm uses batch statistics and reports them through `onBatchStats`. */
  training?: boolean;
  onBatchStats?: (node: string, mean: tf.Tensor1D, variance: tf.Tensor1D) => void;
  /**
   * Run conv/dense as separate ops instead of tfjs' fused kernels. The fused kernels' gradient always
   * computes the weight gradients too; gradients with respect to the input only (style transfer,
   * saliency) skip that work this way — and need no Conv2DBackpropFilter kernel at all.
   */
  unfused?: boolean;
  /**
   * The weights are constants and only gradients with respect to the input will be asked for (style
   * transfer, saliency). Convolutions then run as one fused kernel whose custom gradient keeps only the
   * layer's output and computes the input gradient alone: ~⅓ of the activation memory of `unfused`
   * (which keeps conv output, biased output and activation) and no weight-gradient work. Asking for
   * weight gradients in this mode yields none.
   */
  frozenWeights?: boolean;
}

const NON_TRAINABLE = new Set(['mean', 'variance']);

/**
 * Runs a NetworkDef with TensorFlow.js. Weights live in tf.Variables so that the same object serves
 * inference, fine-tuning and training from scratch.
 */
export class TfjsNetwork {
  readonly def: NetworkDef;
  readonly variables = new Map<string, tf.Variable>();
  private readonly byName = new Map<string, GraphNode>();

  constructor(
    def: NetworkDef,
    weights: WeightMap,
    opts: { trainable?: boolean | ((weight: string) => boolean) } = {},
  ) {
    this.def = def;
    for (const n of def.nodes) {
      if (this.byName.has(n.name))
        throw new VisageError('E_BAD_MODEL', `duplicate node name "${n.name}" in ${def.name}`);
      this.byName.set(n.name, n);
    }
    const trainable = opts.trainable ?? false;
    for (const [name, w] of weights) {
      const role = name.slice(name.lastIndexOf('/') + 1);
      const train =
        !NON_TRAINABLE.has(role) && (typeof trainable === 'function' ? trainable(name) : trainable);
      this.variables.set(
        name,
        tf.tidy(() => tf.variable(tf.tensor(w.data, w.shape, 'float32'), train)),
      );
    }
  }

  private w(node: string, role: string): tf.Variable {
    const v = this.variables.get(`${node}/${role}`);
    if (!v) throw new VisageError('E_BAD_MODEL', `network ${this.def.name} lacks weight "${node}/${role}"`);
    return v;
  }

  private has(node: string, role: string): boolean {
    return this.variables.has(`${node}/${role}`);
  }

  /** Names of the nodes needed to compute `targets`, in graph order. */
  private plan(targets: string[]): GraphNode[] {
    const need = new Set<string>();
    const stack = [...targets];
    while (stack.length) {
      const name = stack.pop()!;
      if (need.has(name)) continue;
      const n = this.byName.get(name);
      if (!n)
        throw new VisageError('E_UNKNOWN_LAYER', `network ${this.def.name} has no layer "${name}"`, {
          layer: name,
        });
      need.add(name);
      stack.push(...nodeInputs(n));
    }
    return this.def.nodes.filter((n) => need.has(n.name));
  }

  /**
   * Forward pass. Intermediates that are not requested are disposed as soon as their last consumer ran,
   * so memory stays at the live frontier of the graph (matters at 512 px style transfer).
   */
  forward(x: tf.Tensor4D, opts: ForwardOptions = {}): Record<string, tf.Tensor> {
    const targets = opts.outputs ?? this.def.outputs;
    const nodes = this.plan(targets);
    const uses = new Map<string, number>();
    for (const n of nodes) for (const i of nodeInputs(n)) uses.set(i, (uses.get(i) ?? 0) + 1);
    const keep = new Set(targets);
    const values = new Map<string, tf.Tensor>();
    const gradMode = opts.training === true;
    // frozenWeights: a linear conv whose only consumer is an activation node runs as one fused op that
    // produces the activation node's value directly (the conv's own output is never materialised).
    const fuse = new Map<string, ActivationNode>();
    if (opts.frozenWeights) {
      const byInput = new Map<string, GraphNode>();
      for (const n of nodes) for (const i of nodeInputs(n)) byInput.set(i, n);
      for (const n of nodes) {
        const next = byInput.get(n.name);
        if (
          n.op === 'conv2d' &&
          (n.activation ?? 'linear') === 'linear' &&
          (n.dilation ?? 1) === 1 &&
          uses.get(n.name) === 1 &&
          !keep.has(n.name) &&
          next?.op === 'activation'
        )
          fuse.set(n.name, next);
      }
    }
    const early = new Set<string>();
    for (const n of nodes) {
      if (!early.has(n.name)) {
        const act = fuse.get(n.name);
        if (act && n.op === 'conv2d') {
          values.set(
            act.name,
            this.frozenConv(
              { ...n, activation: act.fn, alpha: act.alpha },
              values.get(n.input) as tf.Tensor4D,
            ),
          );
          early.add(act.name);
        } else {
          const ins = nodeInputs(n).map((i) => values.get(i)!);
          values.set(n.name, n.op === 'input' ? x : this.apply(n, ins, opts));
        }
      }
      // Free inputs whose consumers have all run; under a gradient tape tfjs keeps what it needs itself.
      if (!gradMode) {
        for (const i of nodeInputs(n)) {
          const left = uses.get(i)! - 1;
          uses.set(i, left);
          const v = values.get(i);
          if (left === 0 && v && !keep.has(i) && v !== x) v.dispose();
        }
      }
    }
    const result: Record<string, tf.Tensor> = {};
    for (const t of targets) result[t] = values.get(t)!;
    return result;
  }

  private apply(n: GraphNode, ins: tf.Tensor[], opts: ForwardOptions): tf.Tensor {
    const x = ins[0];
    switch (n.op) {
      case 'input':
        return x;
      case 'conv2d':
        if (opts.frozenWeights && (n.dilation ?? 1) === 1) return this.frozenConv(n, x as tf.Tensor4D);
        if (opts.unfused) {
          // tidy frees the pre-bias output at once (a gradient tape keeps what its backward pass needs).
          return tf.tidy(() => {
            const y = tf.conv2d(
              x as tf.Tensor4D,
              this.w(n.name, 'kernel') as tf.Tensor4D,
              pair(n.strides, 1),
              convPad(n.padding),
              'NHWC',
              n.dilation ?? 1,
            );
            return activate(n.bias ? tf.add(y, this.w(n.name, 'bias')) : y, n.activation, n.alpha);
          });
        }
        return tf.fused.conv2d({
          x: x as tf.Tensor4D,
          filter: this.w(n.name, 'kernel') as tf.Tensor4D,
          strides: pair(n.strides, 1),
          pad: convPad(n.padding),
          dilations: n.dilation ?? 1,
          bias: n.bias ? this.w(n.name, 'bias') : undefined,
          activation: fusedAct(n.activation),
          leakyreluAlpha: n.alpha,
        });
      case 'depthwiseConv2d':
        if (opts.unfused) {
          return tf.tidy(() => {
            const y = tf.depthwiseConv2d(
              x as tf.Tensor4D,
              this.w(n.name, 'kernel') as tf.Tensor4D,
              pair(n.strides, 1),
              convPad(n.padding) as 'same' | 'valid',
              'NHWC',
              n.dilation ?? 1,
            );
            return activate(n.bias ? tf.add(y, this.w(n.name, 'bias')) : y, n.activation, n.alpha);
          });
        }
        return tf.fused.depthwiseConv2d({
          x: x as tf.Tensor4D,
          filter: this.w(n.name, 'kernel') as tf.Tensor4D,
          strides: pair(n.strides, 1),
          pad: convPad(n.padding) as 'same' | 'valid',
          dilations: n.dilation ?? 1,
          bias: n.bias ? this.w(n.name, 'bias') : undefined,
          activation: fusedAct(n.activation),
          leakyreluAlpha: n.alpha,
        });
      case 'batchNorm': {
        const gamma = n.scale === false ? undefined : this.w(n.name, 'gamma');
        const beta = n.center === false ? undefined : this.w(n.name, 'beta');
        if (opts.training) {
          const axes = x.rank === 4 ? [0, 1, 2] : [0];
          const { mean, variance } = tf.moments(x, axes);
          opts.onBatchStats?.(n.name, mean as tf.Tensor1D, variance as tf.Tensor1D);
          return tf.batchNorm(x, mean, variance, beta, gamma, n.epsilon);
        }
        return tf.batchNorm(x, this.w(n.name, 'mean'), this.w(n.name, 'variance'), beta, gamma, n.epsilon);
      }
      case 'affine':
        return tf.add(tf.mul(x, this.w(n.name, 'scale')), this.w(n.name, 'offset'));
      case 'dense': {
        const flat = x.rank === 2 ? (x as tf.Tensor2D) : (tf.reshape(x, [x.shape[0], -1]) as tf.Tensor2D);
        if (opts.unfused) {
          const y = tf.matMul(flat, this.w(n.name, 'kernel') as tf.Tensor2D);
          return activate(n.bias === false ? y : tf.add(y, this.w(n.name, 'bias')), n.activation, n.alpha);
        }
        return tf.fused.matMul({
          a: flat,
          b: this.w(n.name, 'kernel') as tf.Tensor2D,
          bias: n.bias === false ? undefined : this.w(n.name, 'bias'),
          activation: fusedAct(n.activation),
          leakyreluAlpha: n.alpha,
        });
      }
      case 'activation':
        return activate(x, n.fn, n.alpha);
      case 'add': {
        const sum = ins.length === 2 ? tf.add(ins[0], ins[1]) : tf.addN(ins);
        return activate(sum, n.activation);
      }
      case 'concat':
        return tf.concat(ins, -1);
      case 'maxPool':
      case 'avgPool': {
        let input = x as tf.Tensor4D;
        let pad: 'same' | 'valid' = 'valid';
        if (typeof n.padding === 'string') pad = n.padding;
        else
          input = tf.pad(input, [[0, 0], n.padding[0], n.padding[1], [0, 0]], n.op === 'maxPool' ? -1e30 : 0);
        const size = pair(n.size, 1);
        const strides = pair(n.strides, 1);
        return n.op === 'maxPool'
          ? tf.maxPool(input, size, strides, pad)
          : tf.avgPool(input, size, strides, pad);
      }
      case 'globalAvgPool':
        return tf.mean(x, [1, 2]);
      case 'flatten':
        return tf.reshape(x, [x.shape[0], -1]);
      case 'pad': {
        const p: Array<[number, number]> = [[0, 0], n.pads[0], n.pads[1], [0, 0]];
        return !n.mode || n.mode === 'constant' ? tf.pad(x, p) : tf.mirrorPad(x, p, n.mode);
      }
      case 'padChannels': {
        const c = x.shape[x.rank - 1];
        return tf.pad(x, [
          [0, 0],
          [0, 0],
          [0, 0],
          [0, n.channels - c],
        ]);
      }
      case 'l2normalize': {
        const axis = x.rank - 1;
        const norm = tf.sqrt(tf.maximum(tf.sum(tf.square(x), axis, true), n.epsilon ?? 1e-12));
        return tf.div(x, norm);
      }
    }
  }

  /** conv2d + bias + activation as one op whose gradient is the input gradient only (see frozenWeights). */
  private frozenConv(n: Conv2dNode, x: tf.Tensor4D): tf.Tensor4D {
    const filter = this.w(n.name, 'kernel') as tf.Tensor4D;
    const bias = n.bias ? this.w(n.name, 'bias') : undefined;
    const strides = pair(n.strides, 1);
    const pad = convPad(n.padding);
    const act = n.activation ?? 'linear';
    // The wasm fused kernel supports these activations; others are applied after it.
    const fusable = act === 'linear' || act === 'relu' || act === 'relu6';
    const forward = (input: tf.Tensor, save: tf.GradSaveFunc) => {
      const y = tf.tidy(() => {
        const z = tf.fused.conv2d({
          x: input as tf.Tensor4D,
          filter,
          strides,
          pad,
          bias,
          activation: fusable ? fusedAct(act) : undefined,
        });
        return fusable ? z : activate(z, act, n.alpha);
      });
      save([y]);
      return {
        value: y,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
          tf.conv2dTranspose(
            activationGrad(dy, saved[0], act, n.alpha) as tf.Tensor4D,
            filter,
            input.shape as [number, number, number, number],
            strides,
            pad,
          ),
      };
    };
    // customGrad's parameter type is variadic; ours takes (input, save) as tfjs passes them.
    const op = tf.customGrad(forward as unknown as Parameters<typeof tf.customGrad>[0]);
    return op(x) as tf.Tensor4D;
  }

  /** Apply a batch's statistics to the moving averages (Keras momentum convention). */
  updateMovingStats(node: string, mean: tf.Tensor1D, variance: tf.Tensor1D): void {
    const n = this.byName.get(node);
    if (!n || n.op !== 'batchNorm' || !this.has(node, 'mean')) return;
    const m = n.momentum ?? 0.99;
    tf.tidy(() => {
      const mv = this.w(node, 'mean');
      const vv = this.w(node, 'variance');
      mv.assign(tf.add(tf.mul(mv, m), tf.mul(mean, 1 - m)));
      vv.assign(tf.add(tf.mul(vv, m), tf.mul(variance, 1 - m)));
    });
  }

  trainableVariables(): tf.Variable[] {
    return [...this.variables.values()].filter((v) => v.trainable);
  }

  /** Copy the current weights out of the engine (for checkpoints and export). */
  async exportWeights(): Promise<WeightMap> {
    const out: WeightMap = new Map();
    for (const [name, v] of this.variables)
      out.set(name, { shape: [...v.shape], data: (await v.data()) as Float32Array });
    return out;
  }

  dispose(): void {
    for (const v of this.variables.values()) v.dispose();
    this.variables.clear();
  }
}
