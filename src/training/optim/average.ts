import { VisageError } from '../../errors.js';

/**
 * An exponential moving average of the parameters (Polyak averaging, as in Keras' `use_ema` or timm's
 * ModelEma): after every optimiser step, avg ← d·avg + (1 − d)·params. The average sits in a flatter
 * region than any single late iterate, so it often generalises a little better, and it is what gets
 * validated and saved. The decay warms up as min(d, (1 + t)/(10 + t)) so that the random initial weights
 * are forgotten within the first steps instead of lingering for ~1/(1 − d) of them. Batch-norm moving
 * statistics are averaged with the weights (they are part of `params`).
 */
export class ParameterAverage {
  readonly values: Float32Array;

  constructor(
    readonly decay: number,
    params: Float32Array,
  ) {
    if (!(decay > 0 && decay < 1))
      throw new VisageError('E_BAD_OPTION', `the averaging decay must be in (0, 1), got ${decay}`);
    this.values = params.slice();
  }

  /** Fold in the parameters after optimiser step `t` (0-based). */
  update(params: Float32Array, t: number): void {
    if (params.length !== this.values.length)
      throw new VisageError(
        'E_INTERNAL',
        `${params.length} parameters for an average of ${this.values.length}`,
      );
    const d = Math.min(this.decay, (1 + t) / (10 + t));
    const a = this.values;
    for (let i = 0; i < a.length; i++) a[i] = d * a[i] + (1 - d) * params[i];
  }

  restore(saved: Float32Array | undefined): void {
    if (!saved || saved.length !== this.values.length)
      throw new VisageError(
        'E_BAD_MODEL',
        `the checkpoint's parameter average has ${saved ? saved.length : 'no'} values, expected ${this.values.length}`,
      );
    this.values.set(saved);
  }
}
