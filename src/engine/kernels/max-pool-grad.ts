/**
 * MaxPoolGrad on wasm. The stock wasm kernel drops gradients (on multi-channel inputs some windows route
 * nothing back; checked against the cpu backend and finite differences) and is ~50× slower than the
 * forward pool. Semantics follow tfjs's cpu kernel: each window sends dy to its first maximal element in
 * row-major order (ties are common after a ReLU).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { allocF32, assertFloat32, heapF32, offsetF32, type BackendWasm } from './wasm-backend.js';
import { poolInfo, type PoolGradAttrs } from './pool-info.js';

function maxPoolGrad(args: {
  inputs: { dy: TensorInfo; input: TensorInfo; output?: TensorInfo };
  backend: BackendWasm;
  attrs: PoolGradAttrs;
}) {
  const { inputs, backend, attrs } = args;
  const { dy, input } = inputs;
  assertFloat32('MaxPoolGrad', dy, input);
  const info = poolInfo(input, attrs);
  const {
    batchSize,
    inHeight,
    inWidth,
    inChannels: c,
    outHeight,
    outWidth,
    filterHeight,
    filterWidth,
  } = info;
  const { strideHeight, strideWidth } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;

  const dx = allocF32(backend, input.shape, true);
  const heap = heapF32(backend);
  const xo = offsetF32(backend, input);
  const dxo = offsetF32(backend, dx);
  let dyp = offsetF32(backend, dy);
  const best = new Float32Array(c);
  const at = new Int32Array(c);
  for (let b = 0; b < batchSize; b++) {
    for (let oh = 0; oh < outHeight; oh++) {
      const r0 = oh * strideHeight - top;
      for (let ow = 0; ow < outWidth; ow++, dyp += c) {
        const c0 = ow * strideWidth - left;
        best.fill(-Infinity);
        at.fill(-1);
        for (let r = Math.max(r0, 0); r < Math.min(r0 + filterHeight, inHeight); r++) {
          for (let col = Math.max(c0, 0); col < Math.min(c0 + filterWidth, inWidth); col++) {
            const p = ((b * inHeight + r) * inWidth + col) * c;
            for (let ch = 0; ch < c; ch++) {
              const v = heap[xo + p + ch];
              if (v > best[ch]) {
                best[ch] = v;
                at[ch] = p + ch;
              }
            }
          }
        }
        for (let ch = 0; ch < c; ch++) if (at[ch] >= 0) heap[dxo + at[ch]] += heap[dyp + ch];
      }
    }
  }
  return dx;
}

export const maxPoolGradConfig: KernelConfig = {
  kernelName: tf.MaxPoolGrad,
  backendName: 'wasm',
  kernelFunc: maxPoolGrad as unknown as KernelFunc,
};
