import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../../src/engine/backend.js';
import { initWeights, TfjsNetwork, type NetworkDef } from '../../src/engine/graph/index.js';

before(async () => {
  await initEngine();
});

// The executor's `unfused` mode (used by style transfer): the same values as the fused kernels, and
// input gradients without weight gradients.
const def: NetworkDef = {
  name: 'unfused-check',
  nodes: [
    { op: 'input', name: 'x', shape: [null, null, 3] },
    {
      op: 'conv2d',
      name: 'c',
      input: 'x',
      filters: 5,
      kernel: 3,
      strides: 2,
      padding: 'same',
      bias: true,
      activation: 'relu',
    },
    {
      op: 'depthwiseConv2d',
      name: 'd',
      input: 'c',
      kernel: 3,
      padding: 'valid',
      bias: true,
      activation: 'relu6',
    },
    { op: 'flatten', name: 'flat', input: 'd' },
    { op: 'dense', name: 'fc', input: 'flat', units: 4, activation: 'sigmoid' },
  ],
  outputs: ['fc'],
};

test('unfused forward equals the fused one', () => {
  const w = initWeights(def, [12, 12, 3], 5);
  for (const [k, t] of w) if (k.endsWith('/bias')) t.data.fill(0.1);
  const net = new TfjsNetwork(def, w);
  const x = tf.randomUniform([2, 12, 12, 3], -1, 1, 'float32', 3) as tf.Tensor4D;
  const a = net.forward(x, { outputs: ['c', 'd', 'fc'] });
  const b = net.forward(x, { outputs: ['c', 'd', 'fc'], unfused: true });
  for (const k of ['c', 'd', 'fc']) assert.ok(tf.max(tf.abs(tf.sub(a[k], b[k]))).dataSync()[0] < 1e-5, k);
  const g = tf.grad((t: tf.Tensor) => tf.sum(net.forward(t as tf.Tensor4D, { unfused: true }).fc))(x);
  // Central difference along the gradient direction: d/dε Σfc(x + ε·g) = |g|².
  const f = (t: tf.Tensor4D) => tf.sum(net.forward(t).fc).dataSync()[0];
  const eps = 1e-2;
  const fd = (f(tf.add(x, tf.mul(g, eps))) - f(tf.sub(x, tf.mul(g, eps)))) / (2 * eps);
  const g2 = tf.sum(tf.square(g)).dataSync()[0];
  assert.ok(g2 > 0 && Math.abs(fd - g2) < 0.02 * g2, `directional derivative ${fd} vs |g|² ${g2}`);
  net.dispose();
});
