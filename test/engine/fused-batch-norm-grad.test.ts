import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../../src/engine/backend.js';
import { registerBatchNormGradient } from '../../src/engine/gradients/fused-batch-norm.js';

before(async () => {
  await initEngine();
});

const maxAbs = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);

/** Gradients of Σ w·BN(x) w.r.t. x, γ and β, with batch statistics, through `bn`. */
function grads(
  bn: (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.Tensor,
  x: tf.Tensor,
  g: tf.Tensor,
  b: tf.Tensor,
) {
  const w = tf.randomNormal(x.shape, 0, 1, 'float32', 9);
  const f = (xi: tf.Tensor, gi: tf.Tensor, bi: tf.Tensor) => tf.sum(tf.mul(tf.relu(bn(xi, gi, bi)), w));
  const r = tf.grads(f)([x, g, b]);
  w.dispose();
  return r;
}

const composed = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  return tf.batchNorm(x, mean, variance, b, g, 1e-3);
};

test('the leaner FusedBatchNorm gradient equals the stock one', () => {
  const x = tf.randomNormal([2, 4, 4, 5], 1, 2, 'float32', 4);
  const g = tf.randomUniform([5], 0.5, 1.5, 'float32', 5);
  const b = tf.randomUniform([5], -0.5, 0.5, 'float32', 6);
  const stock = grads(composed, x, g, b);
  registerBatchNormGradient();
  const lean = grads(composed, x, g, b);
  for (let i = 0; i < 3; i++) assert.ok(maxAbs(stock[i], lean[i]) < 1e-4, `input ${i}`);
  tf.dispose([x, g, b, ...stock, ...lean]);
});
