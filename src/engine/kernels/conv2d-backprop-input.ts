/**
 * Conv2DBackpropInput on wasm (dx of conv2d), replacing the stock kernel, a plain loop ~30× slower than the
 * forward convolution. dx is computed by XNNPACK's forward Conv2D on dy with the spatially rotated,
 * in/out-transposed filter; strided convolutions go through the sub-pixel phase split (no products with
 * inserted zeros).
 */
import { convAxes } from './conv-geometry.js';
import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { inputGradByPhases } from './input-grad-by-phases.js';
import {
  allocF32,
  assertFloat32,
  assertNHWC,
  heapF32,
  offsetF32,
  pair,
  runWasmKernel,
  type BackendWasm,
} from './wasm-backend.js';

interface Attrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | number[][];
  dataFormat?: string;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  inputShape: [number, number, number, number];
  /** Not passed by tfjs (its conv2d gradient refuses dilation), honoured when a caller does. */
  dilations?: number | [number, number];
}

function conv2DBackpropInput(args: {
  inputs: { dy: TensorInfo; filter: TensorInfo };
  backend: BackendWasm;
  attrs: Attrs;
}) {
  const { inputs, backend, attrs } = args;
  const { dy, filter } = inputs;
  assertNHWC('Conv2DBackpropInput', attrs.dataFormat);
  assertFloat32('Conv2DBackpropInput', dy, filter);
  const dilations = pair(attrs.dilations);
  const [kh, kw, inC, outC] = filter.shape;
  const info = tf.backend_util.computeConv2DInfo(
    attrs.inputShape,
    filter.shape as [number, number, number, number],
    attrs.strides,
    dilations,
    attrs.pad as 'same',
    attrs.dimRoundingMode,
  );
  return inputGradByPhases({
    kernel: 'Conv2DBackpropInput',
    backend,
    dy,
    inShape: attrs.inputShape,
    ...convAxes(info, { height: kh, width: kw }, { height: dy.shape[1], width: dy.shape[2] }),
    // sub[jh, jw, o, i] = filter[tapsH[jh], tapsW[jw], i, o]
    subFilter(tapsH, tapsW) {
      const sub = allocF32(backend, [tapsH.length, tapsW.length, outC, inC]);
      const heap = heapF32(backend);
      const src = offsetF32(backend, filter);
      let d = offsetF32(backend, sub);
      for (const th of tapsH) {
        for (const tw of tapsW) {
          const tap = src + (th * kw + tw) * inC * outC;
          if (th < 0 || tw < 0) {
            heap.fill(0, d, d + inC * outC);
            d += inC * outC;
            continue;
          }
          for (let o = 0; o < outC; o++) {
            for (let i = 0; i < inC; i++) heap[d++] = heap[tap + i * outC + o];
          }
        }
      }
      return sub;
    },
    convolve(x, subFilter, subDilations, pad) {
      return runWasmKernel(
        'Conv2D',
        backend,
        { x, filter: subFilter },
        { strides: [1, 1], dilations: subDilations, pad, dataFormat: 'NHWC' },
      );
    },
  });
}

export const conv2DBackpropInputConfig: KernelConfig = {
  kernelName: tf.Conv2DBackpropInput,
  backendName: 'wasm',
  kernelFunc: conv2DBackpropInput as unknown as KernelFunc,
};
