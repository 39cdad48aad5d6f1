import { VisageError } from '../../errors.js';

/** HeadAdam's state as a checkpoint keeps it (plain numbers; null before the head exists). */
export interface HeadAdamState {
  adamM: number[] | null;
  adamV: number[] | null;
  adamSteps: number;
}

/** The state of a head not created yet. */
export const NO_ADAM: HeadAdamState = { adamM: null, adamV: null, adamSteps: 0 };

/**
 * Adam for parameters that live inside a loss (the pair head's [w…, b], the softmax proxies), in float64:
 * small, and their state goes into the checkpoint as plain numbers.
 */
export class HeadAdam {
  m: Float64Array;
  v: Float64Array;
  t = 0;
  constructor(
    size: number,
    public lr: number,
  ) {
    this.m = new Float64Array(size);
    this.v = new Float64Array(size);
  }

  step(params: Float64Array, grad: ArrayLike<number>): void {
    const b1 = 0.9;
    const b2 = 0.999;
    this.t++;
    const bc1 = 1 - b1 ** this.t;
    const bc2 = 1 - b2 ** this.t;
    for (let k = 0; k < params.length; k++) {
      this.m[k] = b1 * this.m[k] + (1 - b1) * grad[k];
      this.v[k] = b2 * this.v[k] + (1 - b2) * grad[k] * grad[k];
      params[k] -= (this.lr * this.m[k]) / bc1 / (Math.sqrt(this.v[k] / bc2) + 1e-8);
    }
  }

  /** The moments and step count, for a checkpoint. */
  state(): HeadAdamState {
    return { adamM: [...this.m], adamV: [...this.v], adamSteps: this.t };
  }

  /** An optimiser over `size` parameters continuing from `s`; E_BAD_INPUT when its moments are not that size. */
  static restore(size: number, lr: number, s: HeadAdamState, what: string): HeadAdam {
    if (!s.adamM || !s.adamV || s.adamM.length !== size || s.adamV.length !== size)
      throw new VisageError('E_BAD_INPUT', `checkpoint ${what} state is inconsistent`);
    const adam = new HeadAdam(size, lr);
    adam.m.set(s.adamM);
    adam.v.set(s.adamV);
    adam.t = s.adamSteps;
    return adam;
  }
}
