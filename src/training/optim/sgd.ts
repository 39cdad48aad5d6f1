import { VisageError } from '../../errors.js';
import { gradientPair, type GradientParts, type Optimizer, type WeightDecayOptions } from './types.js';

export interface SgdOptions extends WeightDecayOptions {
  lr?: number;
  /** Heavy-ball momentum (0 = plain SGD). */
  momentum?: number;
  nesterov?: boolean;
}

/** SGD with momentum, as torch.optim.SGD computes it (velocity b ← μ·b + g, first step b = g). */
export class Sgd implements Optimizer {
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
