import { VisageError } from '../../errors.js';
import { restoreBuffers, type OptimizerState, type StatefulOptimizer } from './state.js';
import { gradientPair, type GradientParts, type Optimizer, type WeightDecayOptions } from './types.js';

export interface SgdOptions extends WeightDecayOptions {
  lr?: number;
  /** Heavy-ball momentum (0 = plain SGD). */
  momentum?: number;
  nesterov?: boolean;
}

/** SGD with momentum, as torch.optim.SGD computes it (velocity b ← μ·b + g, first step b = g). */
export class Sgd implements Optimizer, StatefulOptimizer {
  readonly name = 'sgd';
  lr: number;
  readonly momentum: number;
  readonly nesterov: boolean;
  readonly weightDecay: number;
  readonly velocity: Float32Array;
  private readonly mask: Uint8Array | undefined;
  private t = 0;

  constructor(size: number, opts: SgdOptions = {}) {
    this.lr = opts.lr ?? 0.01;
    this.momentum = opts.momentum ?? 0.9;
    this.nesterov = opts.nesterov ?? false;
    this.weightDecay = opts.weightDecay ?? 0;
    if (opts.decayMask && opts.decayMask.length !== size)
      throw new VisageError(
        'E_BAD_OPTION',
        `decay mask has ${opts.decayMask.length} entries for ${size} parameters`,
      );
    this.mask = opts.decayMask;
    this.velocity = new Float32Array(size);
  }

  get steps(): number {
    return this.t;
  }

  /** Everything a checkpoint needs to continue exactly: the step count and the velocity (a live view). */
  state(): OptimizerState {
    return { steps: this.t, buffers: { velocity: this.velocity } };
  }

  /** Continues from state(); the sizes must match. The learning rate is the caller's (schedules set it). */
  restore(state: OptimizerState): void {
    restoreBuffers('SGD', { velocity: this.velocity }, state.buffers);
    this.t = state.steps;
  }

  step(params: Float32Array, grad: GradientParts): void {
    const n = this.velocity.length;
    if (params.length !== n)
      throw new VisageError('E_INTERNAL', `SGD over ${n} parameters got ${params.length}`);
    const [g0, g1] = gradientPair(grad, n);
    const { lr, momentum: mu, nesterov, velocity: b, mask, weightDecay: wd } = this;
    const first = this.t === 0;
    this.t++;
    for (let i = 0; i < n; i++) {
      let g = g0[i];
      if (g1 !== undefined) g += g1[i];
      if (wd !== 0 && (mask === undefined || mask[i] === 1)) g += wd * params[i];
      if (mu !== 0) {
        const bi = first ? g : mu * b[i] + g;
        b[i] = bi;
        g = nesterov ? g + mu * bi : bi;
      }
      params[i] -= lr * g;
    }
  }
}
