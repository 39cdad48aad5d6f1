import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import { initEngine } from '../../src/engine/backend.js';
import { contentCost, gramMatrix, styleCost, styleLayerCost, totalVariation } from '../../src/style/costs.js';
import { objective, prepareTargets, type TransferOptions } from '../../src/style/transfer.js';
import { randomImage, tinyNet } from './tiny-net.js';
import { imageToTensor } from '../../src/image/index.js';

before(async () => {
  await initEngine();
});

// a: 1×1×2 positions, 2 channels: positions (1,2) and (3,4).
const a = () => tf.tensor4d([1, 2, 3, 4], [1, 1, 2, 2]);

test('J_content = Σ(a(C) − a(G))² / (4·nH·nW·nC)', () => {
  const g = tf.tensor4d([0, 2, 3, 0], [1, 1, 2, 2]);
  // (1−0)² + 0 + 0 + (4−0)² = 17; 4·1·2·2 = 16.
  assert.equal(contentCost(a(), g).dataSync()[0], 17 / 16);
});

test('Gram matrix G_kk′ = Σ_ij a_ijk·a_ijk′', () => {
  assert.deepEqual(Array.from(gramMatrix(a()).dataSync()), [10, 14, 14, 20]);
  // Shape [C, C] even when H·W < C.
  assert.deepEqual(gramMatrix(tf.ones([1, 1, 1, 3])).shape, [3, 3]);
});

test('J_style[l] = Σ(G(S) − G(G))² / (4·nC²·(nH·nW)²), and λ-weighted sum over layers', () => {
  const gS = tf.tensor2d([1, 0, 0, 1], [2, 2]);
  // G(G) = [[10,14],[14,20]]: 9² + 14² + 14² + 19² = 834; 4·2²·(1·2)² = 64.
  assert.equal(styleLayerCost(gS, a()).dataSync()[0], 834 / 64);
  const b = tf.tensor4d([1, 0, 0, 1], [1, 2, 1, 2]);
  // G(b) = I, so layer "b" against G(S) = 0 costs (1+1)/(4·4·4) = 2/64.
  const J = styleCost({ x: gS, y: tf.zeros([2, 2]) as tf.Tensor2D }, { x: a(), y: b }, { x: 0.5, y: 2 });
  assert.ok(Math.abs(J.dataSync()[0] - (0.5 * 834) / 64 - (2 * 2) / 64) < 1e-5);
});

test('total variation = Σ squared neighbour differences / (H·W·C)', () => {
  const x = tf.tensor4d([0, 1, 3, 5], [1, 2, 2, 1]);
  // vertical (3−0)² + (5−1)² = 25, horizontal (1−0)² + (5−3)² = 5.
  assert.equal(totalVariation(x).dataSync()[0], 30 / 4);
});

test('∂J/∂G matches central finite differences on a tiny random conv net', () => {
  const net = tinyNet();
  const opts: TransferOptions = {
    contentWeight: 0.7,
    styleWeight: 1.3,
    tvWeight: 0.5,
    contentLayer: 'c3',
    styleLayers: { c1: 1, c2: 0.5, c3: 2 },
    normalizeStyleLayers: 'content',
    smoothing: 'none',
    iterations: 1,
    scales: [16],
    optimizer: 'adam',
    parametrization: 'pixels',
    learningRate: 1,
    init: 'content',
    initNoise: 0,
    seed: 1,
    jitter: 0,
    styleScale: 1,
  };
  for (const smoothing of ['none', 'softmax'] as const) {
    const o = { ...opts, smoothing };
    const C = tf.expandDims(imageToTensor(randomImage(12, 10, 1), { scale: 1 }), 0) as tf.Tensor4D;
    const targets = prepareTargets(net, C, [{ image: randomImage(14, 9, 2), weight: 1 }], o);
    const G = tf.expandDims(imageToTensor(randomImage(12, 10, 3), { scale: 1 }), 0) as tf.Tensor4D;
    const J = (g: tf.Tensor4D) => tf.tidy(() => objective(net, g, targets, o).J.dataSync()[0]);
    const grad = tf.grad((g: tf.Tensor) => objective(net, g as tf.Tensor4D, targets, o).J)(G);
    const gd = grad.dataSync();
    const gv = G.dataSync();
    const eps = 1;
    const scale = Math.max(...Array.from(gd, Math.abs));
    assert.ok(scale > 0, 'gradient is not identically zero');
    for (const i of [0, 7, 40, 123, 200, 301, 359]) {
      const plus = gv.slice();
      const minus = gv.slice();
      plus[i] += eps;
      minus[i] -= eps;
      const fd = (J(tf.tensor4d(plus, G.shape)) - J(tf.tensor4d(minus, G.shape))) / (2 * eps);
      assert.ok(
        Math.abs(fd - gd[i]) <= 0.01 * Math.abs(gd[i]) + 1e-3 * scale,
        `${smoothing}: pixel ${i}: finite difference ${fd}, gradient ${gd[i]} (max |grad| ${scale})`,
      );
    }
    targets.dispose();
    tf.dispose([C, G, grad]);
  }
  net.dispose();
});
