/**
 * Sum and Mean on wasm when they reduce the leading axes of a float32 tensor (batch and space of NHWC:
 * bias gradients, batch statistics and their gradients). The stock kernels first transpose the reduced
 * axes innermost — a full copy of the tensor — and then reduce; here XNNPACK's channel-last AvgPool reduces
 * the rows of the [rows, channels] view directly. Every other case goes to the stock kernel.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { runStock } from './stock-kernels.js';
import {
  disposeInfos,
  heapF32,
  offsetF32,
  releaseView,
  runWasmKernel,
  viewAs,
  viewInto,
  type BackendWasm,
} from './wasm-backend.js';

interface ReduceArgs {
  inputs: { x: TensorInfo };
  backend: BackendWasm;
  attrs: { axis: number | number[]; keepDims: boolean };
}

/** XNNPACK multiplies the window sum by 1/size in float32; windows up to this size keep that exact enough. */
const MAX_WINDOW = 1 << 16;

function reduceLeading(kernelName: string, mean: boolean, args: ReduceArgs): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x } = inputs;
  const axes = tf.util.parseAxisParam(attrs.axis, x.shape).sort((a, b) => a - b);
  const leading = axes.length > 0 && axes.length < x.shape.length && axes.every((a, i) => a === i);
  const rows = tf.util.sizeFromShape(x.shape.slice(0, axes.length));
  const width = tf.util.sizeFromShape(x.shape.slice(axes.length));
  if (x.dtype !== 'float32' || !leading || rows < 2 || width === 0) {
    return runStock(kernelName, args as unknown as Parameters<KernelFunc>[0]) as TensorInfo;
  }
  const outShape = attrs.keepDims
    ? x.shape.map((d, i) => (i < axes.length ? 1 : d))
    : x.shape.slice(axes.length);
  const out = backend.makeOutput(outShape, 'float32');
  const acc = new Float64Array(width);
  // Windows of at most MAX_WINDOW rows; their means are combined in float64.
  for (let start = 0; start < rows; start += MAX_WINDOW) {
    const n = Math.min(MAX_WINDOW, rows - start);
    const heap0 = heapF32(backend);
    const from = offsetF32(backend, x) + start * width;
    if (n < 2) {
      for (let j = 0; j < width; j++) acc[j] += heap0[from + j];
      continue;
    }
    const whole = start === 0 && n === rows;
    const part = whole ? viewAs(x, [1, n, 1, width]) : viewInto(backend, x, start * width, [1, n, 1, width]);
    const avg = runWasmKernel(
      'AvgPool',
      backend,
      { x: part },
      { filterSize: [n, 1], strides: [1, 1], pad: 'valid' },
    );
    if (!whole) releaseView(backend, part);
    const heap = heapF32(backend);
    const p = offsetF32(backend, avg);
    for (let j = 0; j < width; j++) acc[j] += heap[p + j] * n;
    disposeInfos(backend, avg);
  }
  const heap = heapF32(backend);
  const o = offsetF32(backend, out);
  for (let j = 0; j < width; j++) heap[o + j] = mean ? acc[j] / rows : acc[j];
  return out;
}

export const sumConfig: KernelConfig = {
  kernelName: tf.Sum,
  backendName: 'wasm',
  kernelFunc: ((args: ReduceArgs) => reduceLeading(tf.Sum, false, args)) as unknown as KernelFunc,
};

export const meanConfig: KernelConfig = {
  kernelName: tf.Mean,
  backendName: 'wasm',
  kernelFunc: ((args: ReduceArgs) => reduceLeading(tf.Mean, true, args)) as unknown as KernelFunc,
};
