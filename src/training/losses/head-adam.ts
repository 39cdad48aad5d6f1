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
}
