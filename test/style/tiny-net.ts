import { initWeights, type NetworkDef } from '../../src/engine/graph/index.js';
import { GraphFeatureNet } from '../../src/style/feature-net.js';
import * as tf from '@tensorflow/tfjs-core';

/** A small random convolutional FeatureNet (smooth activations, so finite differences are meaningful). */
export const tinyDef: NetworkDef = {
  name: 'tiny-style-net',
  nodes: [
    { op: 'input', name: 'image', shape: [null, null, 3] },
    {
      op: 'conv2d',
      name: 'c1',
      input: 'image',
      filters: 4,
      kernel: 3,
      padding: 'same',
      bias: true,
      activation: 'tanh',
    },
    {
      op: 'conv2d',
      name: 'c2',
      input: 'c1',
      filters: 6,
      kernel: 3,
      strides: 2,
      padding: 'same',
      bias: true,
      activation: 'elu',
    },
    { op: 'avgPool', name: 'p2', input: 'c2', size: 2, strides: 2, padding: 'valid' },
    {
      op: 'conv2d',
      name: 'c3',
      input: 'p2',
      filters: 8,
      kernel: 3,
      padding: 'same',
      bias: true,
      activation: 'tanh',
    },
  ],
  outputs: ['c3'],
};

export function tinyNet(seed = 3): GraphFeatureNet {
  const w = initWeights(tinyDef, [16, 16, 3], seed);
  // Non-zero biases so that no unit sits exactly at a symmetric point.
  let s = seed;
  for (const [k, t] of w)
    if (k.endsWith('/bias'))
      for (let i = 0; i < t.data.length; i++) {
        s = (s * 1103515245 + 12345) % 2147483648;
        t.data[i] = (s / 2147483648 - 0.5) * 0.4;
      }
  return new GraphFeatureNet(tinyDef, w, {
    preprocess: (x) => tf.tidy(() => tf.sub(tf.div(x, 127.5), 1) as tf.Tensor4D),
    preprocessSpec: { perm: [0, 1, 2], scale: [1 / 127.5, 1 / 127.5, 1 / 127.5], offset: [-1, -1, -1] },
    defaultContentLayer: 'c3',
    defaultStyleLayers: { c1: 1, c2: 1, c3: 1 },
  });
}

/** Deterministic pseudo-random RGB image. */
export function randomImage(width: number, height: number, seed: number) {
  const data = new Uint8Array(width * height * 3);
  let s = seed;
  for (let i = 0; i < data.length; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    data[i] = Math.floor((s / 2147483648) * 256);
  }
  return { width, height, data };
}
