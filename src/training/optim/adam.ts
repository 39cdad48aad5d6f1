import { VisageError } from '../../errors.js';
import { restoreBuffers, type OptimizerState, type StatefulOptimizer } from './state.js';
import { gradientPair, type GradientParts, type Optimizer, type WeightDecayOptions } from './types.js';

export interface AdamOptions extends WeightDecayOptions {
  lr?: number;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  /** AdamW: decay the weights directly (p ← p − lr·wd·p) instead of adding wd·p to the gradient. */
  decoupled?: boolean;
}

/**
 * Adam (Kingma & Ba 2015) with bias correction, written exactly as torch.optim.Adam / AdamW compute it so
 * that runs can be compared with PyTorch step for step. State is float32, like PyTorch's.
 */
export class Adam implements Optimizer, StatefulOptimizer {
  readonly name: string;
  lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  readonly weightDecay: number;
  readonly decoupled: boolean;
  readonly m: Float32Array;
  readonly v: Float32Array;
  private readonly mask: Uint8Array | undefined;
  private t = 0;

  constructor(size: number, opts: AdamOptions = {}) {
    this.lr = opts.lr ?? 1e-3;
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.epsilon = opts.epsilon ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0;
    this.decoupled = opts.decoupled ?? false;
    this.name = this.decoupled ? 'adamw' : 'adam';
    if (opts.decayMask && opts.decayMask.length !== size)
      throw new VisageError(
        'E_BAD_OPTION',
        `decay mask has ${opts.decayMask.length} entries for ${size} parameters`,
      );
    this.mask = opts.decayMask;
    this.m = new Float32Array(size);
    this.v = new Float32Array(size);
  }

  get steps(): number {
    return this.t;
  }

  /** Everything a checkpoint needs to continue exactly: the step count and both moments (live views). */
  state(): OptimizerState {
    return { steps: this.t, buffers: { m: this.m, v: this.v } };
  }

  /** Continues from state(); the sizes must match. The learning rate is the caller's (schedules set it). */
  restore(state: OptimizerState): void {
    restoreBuffers('Adam', { m: this.m, v: this.v }, state.buffers);
    this.t = state.steps;
  }

  step(params: Float32Array, grad: GradientParts): void {
    const n = this.m.length;
    if (params.length !== n)
      throw new VisageError('E_INTERNAL', `Adam over ${n} parameters got ${params.length}`);
    const [g0, g1] = gradientPair(grad, n);
    this.t++;
    const { beta1: b1, beta2: b2, epsilon: eps, lr, m, v, mask } = this;
    const bc1 = 1 - Math.pow(b1, this.t);
    const sqrtBc2 = Math.sqrt(1 - Math.pow(b2, this.t));
    const stepSize = lr / bc1;
    const wd = this.weightDecay;
    const l2 = wd !== 0 && !this.decoupled ? wd : 0;
    const shrink = wd !== 0 && this.decoupled ? 1 - lr * wd : 1;
    if (g1 === undefined && wd === 0) {
      adamPlain(params, g0, m, v, b1, b2, eps, stepSize, sqrtBc2);
      return;
    }
    for (let i = 0; i < n; i++) {
      const decays = mask === undefined || mask[i] === 1;
      let p = params[i];
      let g = g0[i];
      if (g1 !== undefined) g += g1[i];
      if (decays) {
        g += l2 * p;
        p *= shrink;
      }
      const mi = b1 * m[i] + (1 - b1) * g;
      const vi = b2 * v[i] + (1 - b2) * g * g;
      m[i] = mi;
      v[i] = vi;
      params[i] = p - (stepSize * mi) / (Math.sqrt(vi) / sqrtBc2 + eps);
    }
  }
}

/**
 * The common case (one gradient, no weight decay) as its own loop: the same arithmetic in the same order,
 * so bit-identical, but without the per-element branches V8 does not hoist — about twice as fast, which
 * matters for ResNet-sized vectors (11 M parameters) where the optimiser is a tenth of a step.
 */
function adamPlain(
  params: Float32Array,
  grad: Float32Array,
  m: Float32Array,
  v: Float32Array,
  b1: number,
  b2: number,
  eps: number,
  stepSize: number,
  sqrtBc2: number,
): void {
  const n = params.length;
  for (let i = 0; i < n; i++) {
    const g = grad[i];
    const mi = b1 * m[i] + (1 - b1) * g;
    const vi = b2 * v[i] + (1 - b2) * g * g;
    m[i] = mi;
    v[i] = vi;
    params[i] = params[i] - (stepSize * mi) / (Math.sqrt(vi) / sqrtBc2 + eps);
  }
}
