/**
 * Our wasm kernels allocate intermediates on the wasm heap (which never shrinks) and create XNNPACK
 * operators cached on tensor ids: repeated gradients must leave no tensors, no data buffers and no heap
 * growth behind.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { initEngine } from '../../src/engine/backend.js';

function filled(shape: number[], seed: number): tf.Tensor {
  const n = tf.util.sizeFromShape(shape);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = Math.sin(i * 12.9898 + seed) * 0.5;
  return tf.tensor(v, shape);
}

await initEngine('wasm');

// Sizes where a leaked intermediate (grid, im2col chunk, packed matmul weights: ~1-8 MB each) would make
// the heap grow within the repetitions.
const x = filled([4, 40, 40, 32], 1) as tf.Tensor4D;
const w = filled([3, 3, 32, 32], 2) as tf.Tensor4D;
const dw = filled([3, 3, 32, 2], 3) as tf.Tensor4D;
const bias = filled([32], 4) as tf.Tensor1D;

const gradients: Record<string, () => tf.Tensor[]> = {
  'conv2d stride 1': () =>
    tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same')),
    )([x, w]),
  'conv2d stride 2': () =>
    tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'valid')),
    )([x, w]),
  'depthwise multiplier 2, stride 2': () =>
    tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same')),
    )([x, dw]),
  'fused conv2d + bias + relu': () =>
    tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
      tf.sum(
        tf.fused.conv2d({
          x: a as tf.Tensor4D,
          filter: b as tf.Tensor4D,
          strides: 1,
          pad: 'same',
          bias: c,
          activation: 'relu',
        }),
      ),
    )([x, w, bias]),
  'maxPool and avgPool': () =>
    tf.grads((a: tf.Tensor) =>
      tf.add(
        tf.sum(tf.maxPool(a as tf.Tensor4D, 3, 2, 'same')),
        tf.sum(tf.avgPool(a as tf.Tensor4D, 3, 2, 'same')),
      ),
    )([x]),
  batchNorm: () =>
    tf.grads((a: tf.Tensor) => {
      const { mean, variance } = tf.moments(a, [0, 1, 2]);
      return tf.sum(tf.square(tf.batchNorm(a as tf.Tensor4D, mean, variance, bias, bias, 1e-3)));
    })([x]),
};

for (const [name, run] of Object.entries(gradients)) {
  test(`${name}: no tensors, buffers or heap left behind`, () => {
    const backend = tf.backend() as BackendWasm;
    const heap = (): number => (backend.wasm as unknown as { HEAPU8: Uint8Array }).HEAPU8.length;
    for (let i = 0; i < 3; i++) tf.dispose(run()); // warm-up: heap growth, operator caches
    const tensors = tf.memory().numTensors;
    const bytes = tf.memory().numBytes;
    const buffers = backend.numDataIds();
    const heapBytes = heap();
    for (let i = 0; i < 15; i++) tf.dispose(run());
    assert.equal(tf.memory().numTensors, tensors, 'tensors');
    assert.equal(tf.memory().numBytes, bytes, 'bytes');
    assert.equal(backend.numDataIds(), buffers, 'data buffers');
    assert.equal(heap(), heapBytes, 'wasm heap size');
  });
}
