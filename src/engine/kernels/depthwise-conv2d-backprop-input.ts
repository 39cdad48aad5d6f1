/**
 * DepthwiseConv2dNativeBackpropInput on wasm (tfjs-backend-wasm has none). dx is XNNPACK's forward depthwise
 * convolution of dy with the rotated filter, per output phase for strided convolutions; with a channel
 * multiplier m the m gradient maps of each input channel are summed (an inner-axis Sum).
 */
import { convAxes } from './conv-geometry.js';
import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { inputGradByPhases } from './input-grad-by-phases.js';
import {
  allocF32,
  assertFloat32,
  disposeInfos,
  heapF32,
  offsetF32,
  pair,
  runWasmKernel,
  viewAs,
  type BackendWasm,
} from './wasm-backend.js';

interface Attrs {
  strides: number | [number, number];
  dilations?: number | [number, number];
  pad: 'valid' | 'same' | number | number[][];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  inputShape: [number, number, number, number];
}

/** Tap grids XNNPACK's wasm depthwise convolution runs at full speed (measured; 2, 6, 8, 16 taps are slow). */
const FAST_DEPTHWISE_GRIDS: ReadonlyArray<[number, number]> = [
  [1, 3],
  [3, 1],
  [1, 4],
  [4, 1],
  [2, 2],
  [3, 3],
  [5, 5],
];

/** The smallest fast tap grid holding th × tw taps (unchanged when none does). */
export function fastDepthwiseTapGrid(th: number, tw: number): [number, number] {
  let best: [number, number] | undefined;
  for (const [h, w] of FAST_DEPTHWISE_GRIDS) {
    if (h >= th && w >= tw && (best === undefined || h * w < best[0] * best[1])) best = [h, w];
  }
  return best ?? [th, tw];
}

function depthwiseConv2dNativeBackpropInput(args: {
  inputs: { dy: TensorInfo; filter: TensorInfo };
  backend: BackendWasm;
  attrs: Attrs;
}) {
  const { inputs, backend, attrs } = args;
  const { dy, filter } = inputs;
  assertFloat32('DepthwiseConv2dNativeBackpropInput', dy, filter);
  const [kh, kw, channels, multiplier] = filter.shape;
  const info = tf.backend_util.computeConv2DInfo(
    attrs.inputShape,
    filter.shape as [number, number, number, number],
    attrs.strides,
    pair(attrs.dilations),
    attrs.pad as 'same',
    attrs.dimRoundingMode,
    true,
  );
  const expanded = channels * multiplier;
  return inputGradByPhases({
    kernel: 'DepthwiseConv2dNativeBackpropInput',
    backend,
    dy,
    inShape: attrs.inputShape,
    ...convAxes(info, { height: kh, width: kw }, { height: dy.shape[1], width: dy.shape[2] }),
    // sub[jh, jw, c·m + q, 0] = filter[tapsH[jh], tapsW[jw], c, q]: each tap's (c, q) block is contiguous.
    subFilter(tapsH, tapsW) {
      const sub = allocF32(backend, [tapsH.length, tapsW.length, expanded, 1]);
      const heap = heapF32(backend);
      const src = offsetF32(backend, filter);
      let d = offsetF32(backend, sub);
      for (const th of tapsH) {
        for (const tw of tapsW) {
          const tap = src + (th * kw + tw) * expanded;
          if (th < 0 || tw < 0) heap.fill(0, d, d + expanded);
          else heap.copyWithin(d, tap, tap + expanded);
          d += expanded;
        }
      }
      return sub;
    },
    tapGrid: fastDepthwiseTapGrid,
    convolve(x, subFilter, dilations, pad) {
      const out = runWasmKernel(
        'DepthwiseConv2dNative',
        backend,
        { x, filter: subFilter },
        { strides: [1, 1], dilations, pad, dataFormat: 'NHWC' },
      );
      if (multiplier === 1) return out;
      const [b, h, w] = out.shape;
      const summed = runWasmKernel(
        'Sum',
        backend,
        { x: viewAs(out, [b, h, w, channels, multiplier]) },
        { axis: [4], keepDims: false },
      );
      disposeInfos(backend, out);
      return summed;
    },
  });
}

export const depthwiseConv2dNativeBackpropInputConfig: KernelConfig = {
  kernelName: tf.DepthwiseConv2dNativeBackpropInput,
  backendName: 'wasm',
  kernelFunc: depthwiseConv2dNativeBackpropInput as unknown as KernelFunc,
};
