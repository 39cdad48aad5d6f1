/**
 * Conv2DBackpropFilter on wasm (dW of conv2d; tfjs-backend-wasm has none, so tf.grad fails without it).
 *
 *   dW[tap][i][o] = Σ_p x[p·stride + tap·dilation − pad][i] · dy[p][o]
 *
 * x is laid out once, channel-major, as a padded "phase grid" (conv-geometry.ts) in which every tap is a
 * shift by a whole number of cells. The reduction over p then runs in chunks of a few thousand cells, each
 * one XNNPACK matmul  im2colᵀ[tap·inC, chunk] · dy[chunk, outC]: the im2col rows are plain copies of grid
 * rows, dy's chunk is the packed operand (XNNPACK packs its right-hand side on every new tensor, slowly, so
 * it must be the small one), and the product lands directly in dW's [kh, kw, inC, outC] layout.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { convAxes, filterGradAxis } from './conv-geometry.js';
import {
  channelMajorPhaseGrid,
  dyGrid,
  forBatchGroups,
  gridCells,
  tapShifts,
  type GridSpec,
} from './phase-grid.js';
import {
  allocF32,
  assertFloat32,
  assertNHWC,
  disposeInfos,
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
  filterShape: [number, number, number, number];
  /** Not passed by tfjs (its conv2d gradient refuses dilation), honoured when a caller does. */
  dilations?: number | [number, number];
}

/** Cells per matmul: the im2col chunk stays near 8 MiB (cache-friendly), within [256, 8192] cells. */
export function chunkCells(tapsTimesInC: number): number {
  const target = (8 << 20) / 4 / tapsTimesInC;
  return Math.max(256, Math.min(8192, 2 ** Math.floor(Math.log2(Math.max(target, 1)))));
}

function conv2DBackpropFilter(args: {
  inputs: { x: TensorInfo; dy: TensorInfo };
  backend: BackendWasm;
  attrs: Attrs;
}) {
  const { inputs, backend, attrs } = args;
  const { x, dy } = inputs;
  assertNHWC('Conv2DBackpropFilter', attrs.dataFormat);
  assertFloat32('Conv2DBackpropFilter', x, dy);
  const [kh, kw, inC, outC] = attrs.filterShape;
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    attrs.filterShape,
    attrs.strides,
    pair(attrs.dilations),
    attrs.pad as 'same',
    attrs.dimRoundingMode,
  );
  const [, outH, outW] = dy.shape;
  const { rows, cols } = convAxes(info, { height: kh, width: kw }, { height: outH, width: outW });
  const spec: GridSpec = { rows, cols, gr: filterGradAxis(rows), gc: filterGradAxis(cols) };
  const taps = tapShifts(spec);
  const acc = new Float64Array(kh * kw * inC * outC);
  forBatchGroups(backend, x, dy, (xs, dys) => accumulate(backend, xs, dys, spec, taps, acc));

  const dW = allocF32(backend, attrs.filterShape);
  heapF32(backend).set(acc, offsetF32(backend, dW));
  return dW;
}

/** acc[tap][i][o] += Σ over this batch group's cells of im2colᵀ · dy, chunk by chunk. */
function accumulate(
  backend: BackendWasm,
  x: TensorInfo,
  dy: TensorInfo,
  spec: GridSpec,
  taps: Array<{ grid: number; shift: number }>,
  acc: Float64Array,
): void {
  const inC = x.shape[3];
  const cells = gridCells(x, spec);
  const { grid, rowLength } = channelMajorPhaseGrid(backend, x, spec);

  const chunk = chunkCells(taps.length * inC);
  for (let start = 0; start < cells; start += chunk) {
    const n = Math.min(chunk, cells - start);
    const im2col = allocF32(backend, [taps.length * inC, n]);
    const dyChunk = dyGrid(backend, dy, spec.gr.gridSize, spec.gc.gridSize, start, n);
    const heap = heapF32(backend);
    const g = offsetF32(backend, grid);
    let d = offsetF32(backend, im2col);
    for (const tap of taps) {
      for (let i = 0; i < inC; i++, d += n) {
        // Cells shifted past the row's end meet only dy's empty cells: any finite value will do, 0 here.
        const row = g + (tap.grid * inC + i) * rowLength;
        const s = row + start + tap.shift;
        const valid = Math.max(0, Math.min(n, rowLength - start - tap.shift));
        heap.copyWithin(d, s, s + valid);
        if (valid < n) heap.fill(0, d + valid, d + n);
      }
    }
    const prod = runWasmKernel(
      'BatchMatMul',
      backend,
      { a: im2col, b: dyChunk },
      { transposeA: false, transposeB: false },
    );
    const out = heapF32(backend);
    const p = offsetF32(backend, prod);
    for (let k = 0; k < acc.length; k++) acc[k] += out[p + k];
    disposeInfos(backend, prod, im2col, dyChunk);
  }
  disposeInfos(backend, grid);
}

export const conv2DBackpropFilterConfig: KernelConfig = {
  kernelName: tf.Conv2DBackpropFilter,
  backendName: 'wasm',
  kernelFunc: conv2DBackpropFilter as unknown as KernelFunc,
};
