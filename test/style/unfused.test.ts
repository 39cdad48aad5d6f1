import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../../src/engine/backend.js';
import {
  initWeights,
  TfjsNetwork,
  type ForwardOptions,
  type NetworkDef,
} from '../../src/engine/graph/index.js';

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

// frozenWeights: fused forward, custom input-only gradient, conv+activation nodes fused on the fly.
const frozenDef: NetworkDef = {
  name: 'frozen-check',
  nodes: [
    { op: 'input', name: 'x', shape: [null, null, 3] },
    { op: 'conv2d', name: 'c1', input: 'x', filters: 6, kernel: 3, strides: 2, padding: 'valid' },
    { op: 'activation', name: 'a1', input: 'c1', fn: 'relu' },
    {
      op: 'conv2d',
      name: 'c2',
      input: 'a1',
      filters: 6,
      kernel: [1, 3],
      padding: 'same',
      bias: true,
      activation: 'relu6',
    },
    {
      op: 'conv2d',
      name: 'c3',
      input: 'c2',
      filters: 5,
      kernel: 3,
      strides: 2,
      padding: 'same',
      bias: true,
      activation: 'leakyRelu',
      alpha: 0.1,
    },
    {
      op: 'conv2d',
      name: 'c4',
      input: 'c3',
      filters: 4,
      kernel: 3,
      padding: [
        [1, 0],
        [0, 2],
      ],
      bias: true,
      activation: 'sigmoid',
    },
    {
      op: 'conv2d',
      name: 'c5',
      input: 'a1',
      filters: 4,
      kernel: 3,
      strides: 2,
      padding: 'same',
      bias: true,
      activation: 'elu',
    },
    {
      op: 'conv2d',
      name: 'c6',
      input: 'c5',
      filters: 4,
      kernel: 1,
      padding: 'valid',
      bias: true,
      activation: 'tanh',
    },
  ],
  outputs: ['c4', 'c6'],
};

test('frozenWeights: same values and input gradients as plain ops', () => {
  const w = initWeights(frozenDef, [17, 15, 3], 9);
  let s = 1;
  for (const [k, t] of w)
    if (k.endsWith('/bias'))
      for (let i = 0; i < t.data.length; i++) {
        s = (s * 1103515245 + 12345) % 2147483648;
        t.data[i] = (s / 2147483648 - 0.5) * 0.6;
      }
  const net = new TfjsNetwork(frozenDef, w);
  const x = tf.randomUniform([1, 17, 15, 3], -1, 1, 'float32', 4) as tf.Tensor4D;
  const outs = ['a1', 'c4', 'c6'];
  const plain = net.forward(x, { outputs: outs, unfused: true });
  const frozen = net.forward(x, { outputs: outs, frozenWeights: true, unfused: true });
  for (const k of outs) assert.ok(tf.max(tf.abs(tf.sub(plain[k], frozen[k]))).dataSync()[0] < 1e-5, k);
  // a1 is not requested here, so c1 + a1 run fused.
  const loss = (o: ForwardOptions) => (t: tf.Tensor) => {
    const r = net.forward(t as tf.Tensor4D, { outputs: ['c4', 'c6'], ...o });
    return tf.add(tf.sum(tf.square(r.c4)), tf.sum(tf.mul(r.c6, 3)));
  };
  const g1 = tf.grad(loss({ unfused: true }))(x);
  const g2 = tf.grad(loss({ frozenWeights: true, unfused: true }))(x);
  const scale = tf.max(tf.abs(g1)).dataSync()[0];
  assert.ok(scale > 0);
  assert.ok(tf.max(tf.abs(tf.sub(g1, g2))).dataSync()[0] < 1e-4 * scale);
  net.dispose();
});
