import * as tf from '@tensorflow/tfjs-core';

/**
 * A leaner gradient for tfjs' FusedBatchNorm kernel. The stock one tiles 1/√(σ²+ε) to the full activation
 * shape (one Tile per layer: ~20 % of a ResNet training step on wasm) and computes Σ dy·(x − μ) twice; this
 * one broadcasts per-channel factors and shares the reductions. Same maths:
 *   y = (x − μ)·r·γ + β,  r = (σ² + ε)^−½
 *   ∂x = dy·γr   ∂μ = −Σdy·γr   ∂σ² = −½·γr³·Σdy(x − μ)   ∂γ = r·Σdy(x − μ)   ∂β = Σdy
 */
const config: tf.GradConfig = {
  kernelName: tf.FusedBatchNorm,
  inputsToSave: ['x', 'mean', 'variance', 'scale'],
  gradFunc: (dy, saved, attrs) => {
    const d = dy as tf.Tensor;
    const [x, mean, variance, scale] = saved;
    const eps = (attrs as unknown as { varianceEpsilon: number }).varianceEpsilon;
    const axes = tf.broadcast_util.getReductionAxes(mean.shape, x.shape);
    const c = mean.size;
    // Per-channel sums of an NHWC tensor as ones[1, rows] × t[rows, C]: XNNPACK's matmul is 2–20× faster
    // than tfjs-wasm's Sum over leading axes (which transposes first).
    const channelsLast = mean.rank === 1 && axes.length === x.rank - 1;
    const reduce = (t: tf.Tensor) => {
      if (!axes.length) return t;
      if (!channelsLast) return tf.reshape(tf.sum(t, axes), mean.shape);
      const rows = t.size / c;
      return tf.reshape(tf.matMul(tf.ones([1, rows]), tf.reshape(t, [rows, c])), mean.shape);
    };
    const r = tf.rsqrt(tf.add(variance, eps));
    const k = scale == null ? r : tf.mul(r, scale);
    // Computed here, not inside the thunks: each thunk runs in its own tidy, so a reduction shared
    // between thunks would be disposed after the first. Training needs every one of them anyway.
    const sumDy = reduce(d);
    const sumDyXc = reduce(tf.mul(d, tf.sub(x, mean)));
    return {
      x: () => tf.mul(d, k),
      mean: () => tf.neg(tf.mul(sumDy, k)),
      variance: () => tf.mul(sumDyXc, tf.mul(tf.mul(k, tf.square(r)), -0.5)),
      scale: () => tf.mul(sumDyXc, r),
      offset: () => tf.clone(sumDy),
    };
  },
};

let registered = false;

/**
 * Replace the stock FusedBatchNorm gradient in this thread (idempotent). Called by whoever trains with
 * batch statistics (the training shards), not at engine start, so tests can still compare with the stock one.
 */
export function registerBatchNormGradient(): void {
  if (registered) return;
  registered = true;
  if (tf.getGradient(tf.FusedBatchNorm)) tf.unregisterGradient(tf.FusedBatchNorm);
  tf.registerGradient(config);
}
