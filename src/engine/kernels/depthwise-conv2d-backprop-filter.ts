/**
 * DepthwiseConv2dNativeBackpropFilter on wasm (tfjs-backend-wasm has none).
 *
 *   dW[tap][c][q] = Σ_p x[p·stride + tap·dilation − pad][c] · dy[p][c·m + q]
 *
 * On the phase grid (phase-grid.ts) every tap is a shift of whole cells, so for a chunk of cells the tap's
 * x rows and dy rows are two contiguous heap ranges: they enter XNNPACK's Multiply as zero-copy views, and
 * an AvgPool over the chunk (a channel-last reduction, no transpose) sums the products per channel.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { convAxes, filterGradAxis } from './conv-geometry.js';
import { dyGrid, forBatchGroups, gridCells, nhwcPhaseGrid, tapShifts, type GridSpec } from './phase-grid.js';
import {
  allocF32,
  assertFloat32,
  disposeInfos,
  heapF32,
  offsetF32,
  pair,
  releaseView,
  runWasmKernel,
  viewAs,
  viewInto,
  type BackendWasm,
} from './wasm-backend.js';

interface Attrs {
  strides: number | [number, number];
  dilations?: number | [number, number];
  pad: 'valid' | 'same' | number | number[][];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
}

/** Cells per product: ~1 MiB of products, so Multiply's output is still in cache when AvgPool reads it. */
function chunkCells(channels: number): number {
  return Math.max(256, Math.min(16384, 2 ** Math.round(Math.log2((1 << 18) / channels))));
}

function depthwiseConv2dNativeBackpropFilter(args: {
  inputs: { x: TensorInfo; dy: TensorInfo };
  backend: BackendWasm;
  attrs: Attrs;
}) {
  const { inputs, backend, attrs } = args;
  const { x, dy } = inputs;
  assertFloat32('DepthwiseConv2dNativeBackpropFilter', x, dy);
  const [kh, kw, , m] = attrs.filterShape;
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    attrs.filterShape,
    attrs.strides,
    pair(attrs.dilations),
    attrs.pad as 'same',
    attrs.dimRoundingMode,
    true,
  );
  const [, outH, outW, cm] = dy.shape;
  const { rows, cols } = convAxes(info, { height: kh, width: kw }, { height: outH, width: outW });
  const spec: GridSpec = { rows, cols, gr: filterGradAxis(rows), gc: filterGradAxis(cols) };
  const taps = tapShifts(spec);
  const acc = new Float64Array(taps.length * cm);
  forBatchGroups(backend, x, dy, (xs, dys) => accumulate(backend, xs, dys, spec, taps, m, acc));

  const dW = allocF32(backend, attrs.filterShape);
  heapF32(backend).set(acc, offsetF32(backend, dW));
  return dW;
}

/** acc[tap][c·m + q] += Σ over this batch group's cells of x(tap) · dy. */
function accumulate(
  backend: BackendWasm,
  x: TensorInfo,
  dy: TensorInfo,
  spec: GridSpec,
  taps: Array<{ grid: number; shift: number }>,
  m: number,
  acc: Float64Array,
): void {
  const channels = x.shape[3];
  const cm = dy.shape[3];
  const cells = gridCells(x, spec);
  const xGrid = nhwcPhaseGrid(backend, x, spec);
  const dyCells = dyGrid(backend, dy, spec.gr.gridSize, spec.gc.gridSize, 0, cells);

  const chunk = chunkCells(cm);
  for (let start = 0; start < cells; start += chunk) {
    const n = Math.min(chunk, cells - start);
    // With a multiplier, x[c] broadcasts over dy's m channels c·m … c·m + m − 1.
    const dyView = viewInto(backend, dyCells, start * cm, m === 1 ? [n, cm] : [n, channels, m]);
    for (let t = 0; t < taps.length; t++) {
      const from = (taps[t].grid * cells + start + taps[t].shift) * channels;
      const xView = viewInto(backend, xGrid, from, m === 1 ? [n, channels] : [n, channels, 1]);
      const prod = runWasmKernel('Multiply', backend, { a: xView, b: dyView });
      releaseView(backend, xView);

      addColumnSums(backend, prod, n, cm, acc, t * cm);
      disposeInfos(backend, prod);
    }
    releaseView(backend, dyView);
  }
  disposeInfos(backend, xGrid, dyCells);
}

/** acc[at + j] += Σ_i prod[i][j] for an [n, width] product. */
function addColumnSums(
  backend: BackendWasm,
  prod: TensorInfo,
  n: number,
  width: number,
  acc: Float64Array,
  at: number,
): void {
  if (n < 16) {
    // XNNPACK refuses tiny pooling windows; a few rows are cheap in JS.
    const heap = heapF32(backend);
    const p = offsetF32(backend, prod);
    for (let i = 0; i < n; i++) for (let j = 0; j < width; j++) acc[at + j] += heap[p + i * width + j];
    return;
  }
  const mean = runWasmKernel(
    'AvgPool',
    backend,
    { x: viewAs(prod, [1, n, 1, width]) },
    { filterSize: [n, 1], strides: [1, 1], pad: 'valid' },
  );
  const heap = heapF32(backend);
  const p = offsetF32(backend, mean);
  for (let j = 0; j < width; j++) acc[at + j] += heap[p + j] * n;
  disposeInfos(backend, mean);
}

export const depthwiseConv2dNativeBackpropFilterConfig: KernelConfig = {
  kernelName: tf.DepthwiseConv2dNativeBackpropFilter,
  backendName: 'wasm',
  kernelFunc: depthwiseConv2dNativeBackpropFilter as unknown as KernelFunc,
};
