/**
 * Heap layouts of x and dy on the filter gradients' phase grid (conv-geometry.ts): cell (b, qh, qw) of
 * phase (ph, pw) holds x[b, qh·stride + ph − pad, qw·stride + pw − pad] (zero on padding), and dy's grid
 * holds dy[b, qh, qw] where that output position exists (zero elsewhere). On these grids every filter tap
 * is a shift by a whole number of cells.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { gridToInput, type ConvAxis, type FilterGradAxis } from './conv-geometry.js';
import {
  allocF32,
  disposeInfos,
  heapF32,
  offsetF32,
  releaseView,
  runWasmKernel,
  viewAs,
  viewInto,
  type BackendWasm,
} from './wasm-backend.js';

export interface GridSpec {
  rows: ConvAxis;
  cols: ConvAxis;
  gr: FilterGradAxis;
  gc: FilterGradAxis;
}

/**
 * Bytes of x laid on grids at once; larger batches are split (the grids are copies of x, and the wasm heap
 * is capped and never shrinks). Mutable so that tests can exercise the split on small tensors.
 */
export const gridLimits = { groupBytes: 64 << 20 };

/**
 * Runs `each` on consecutive batch groups of x and dy (zero-copy views) whose x stays under groupBytes,
 * so that the grids built from them stay bounded too.
 */
export function forBatchGroups(
  backend: BackendWasm,
  x: TensorInfo,
  dy: TensorInfo,
  each: (x: TensorInfo, dy: TensorInfo) => void,
): void {
  const batch = x.shape[0];
  const xImage = tf.util.sizeFromShape(x.shape.slice(1));
  const dyImage = tf.util.sizeFromShape(dy.shape.slice(1));
  const group = Math.max(1, Math.floor(gridLimits.groupBytes / 4 / Math.max(xImage, 1)));
  if (group >= batch) {
    each(x, dy);
    return;
  }
  for (let b = 0; b < batch; b += group) {
    const n = Math.min(group, batch - b);
    const xs = viewInto(backend, x, b * xImage, [n, ...x.shape.slice(1)]);
    const dys = viewInto(backend, dy, b * dyImage, [n, ...dy.shape.slice(1)]);
    try {
      each(xs, dys);
    } finally {
      releaseView(backend, xs);
      releaseView(backend, dys);
    }
  }
}

/** Cells of one phase grid (batch × gridH × gridW). */
export function gridCells(x: TensorInfo, { gr, gc }: GridSpec): number {
  return x.shape[0] * gr.gridSize * gc.gridSize;
}

/** Where each tap reads: its phase grid (index into phasesH × phasesW) and its shift in cells. */
export function tapShifts({ gr, gc }: GridSpec): Array<{ grid: number; shift: number }> {
  const taps: Array<{ grid: number; shift: number }> = [];
  for (let i = 0; i < gr.tapPhase.length; i++) {
    for (let j = 0; j < gc.tapPhase.length; j++) {
      taps.push({
        grid: gr.phases.indexOf(gr.tapPhase[i]) * gc.phases.length + gc.phases.indexOf(gc.tapPhase[j]),
        shift: gr.tapOffset[i] * gc.gridSize + gc.tapOffset[j],
      });
    }
  }
  return taps;
}

/** The x columns each grid column of phase `phW` reads (grid columns over padding are left out). */
function columnMap(spec: GridSpec, width: number, phW: number): { qs: number[]; cols: number[] } {
  const qs: number[] = [];
  const cols: number[] = [];
  for (let q = 0; q < spec.gc.gridSize; q++) {
    const col = gridToInput(spec.cols, phW, q);
    if (col >= 0 && col < width) {
      qs.push(q);
      cols.push(col);
    }
  }
  return { qs, cols };
}

/**
 * x as NHWC phase grids, [phases · cells + margin, C], followed by one image-grid of zero cells that the
 * largest tap shift may read.
 */
export function nhwcPhaseGrid(backend: BackendWasm, x: TensorInfo, spec: GridSpec): TensorInfo {
  const [batch, height, width, c] = x.shape;
  const gridH = spec.gr.gridSize;
  const gridW = spec.gc.gridSize;
  const cells = gridCells(x, spec);
  const phases = spec.gr.phases.length * spec.gc.phases.length;
  const grid = allocF32(backend, [phases * cells + gridH * gridW, c], true);
  const heap = heapF32(backend);
  const xo = offsetF32(backend, x);
  let g = offsetF32(backend, grid);
  for (const phH of spec.gr.phases) {
    for (const phW of spec.gc.phases) {
      const { qs, cols } = columnMap(spec, width, phW);
      for (let b = 0; b < batch; b++) {
        for (let q = 0; q < gridH; q++, g += gridW * c) {
          const row = gridToInput(spec.rows, phH, q);
          if (row < 0 || row >= height || qs.length === 0) continue;
          const src = xo + (b * height + row) * width * c;
          if (spec.cols.stride === 1) {
            heap.copyWithin(g + qs[0] * c, src + cols[0] * c, src + (cols[0] + qs.length) * c);
          } else {
            for (let k = 0; k < qs.length; k++)
              heap.copyWithin(g + qs[k] * c, src + cols[k] * c, src + (cols[k] + 1) * c);
          }
        }
      }
    }
  }
  return grid;
}

/** x as channel-major phase grids: [phases · C, rowLength], row (phase, channel) holding the phase's cells. */
export interface ChannelMajorGrid {
  grid: TensorInfo;
  /** Floats per row: the cells, possibly followed by zeros. Reads past a row's end must be treated as 0. */
  rowLength: number;
}

export function channelMajorPhaseGrid(backend: BackendWasm, x: TensorInfo, spec: GridSpec): ChannelMajorGrid {
  const [batch, height, width, c] = x.shape;
  const gridH = spec.gr.gridSize;
  const gridW = spec.gc.gridSize;
  const bottom = gridH - height - spec.rows.padBefore;
  const right = gridW - width - spec.cols.padBefore;
  if (spec.rows.stride === 1 && spec.cols.stride === 1 && bottom >= 0 && right >= 0) {
    // One phase: x padded to the grid, then a 2-D transpose (both fast wasm kernels).
    const padded = runWasmKernel(
      'PadV2',
      backend,
      { x },
      {
        paddings: [
          [0, 0],
          [spec.rows.padBefore, bottom],
          [spec.cols.padBefore, right],
          [0, 0],
        ],
        constantValue: 0,
      },
    );
    const cells = batch * gridH * gridW;
    const grid = runWasmKernel('Transpose', backend, { x: viewAs(padded, [cells, c]) }, { perm: [1, 0] });
    disposeInfos(backend, padded);
    return { grid: viewAs(grid, [c, cells]), rowLength: cells };
  }
  // Strided: gather each phase's cells channel by channel, one x row at a time (its reads stay in cache).
  const cells = gridCells(x, spec);
  const grid = allocF32(backend, [spec.gr.phases.length * spec.gc.phases.length * c, cells], true);
  const heap = heapF32(backend);
  const xo = offsetF32(backend, x);
  const go = offsetF32(backend, grid);
  let phase = 0;
  for (const phH of spec.gr.phases) {
    for (const phW of spec.gc.phases) {
      const { qs, cols } = columnMap(spec, width, phW);
      const xs = cols.map((col) => col * c);
      for (let b = 0; b < batch; b++) {
        for (let q = 0; q < gridH; q++) {
          const row = gridToInput(spec.rows, phH, q);
          if (row < 0 || row >= height) continue;
          const src = xo + (b * height + row) * width * c;
          const cell = (b * gridH + q) * gridW;
          for (let i = 0; i < c; i++) {
            const dst = go + (phase * c + i) * cells + cell;
            for (let k = 0; k < qs.length; k++) heap[dst + qs[k]] = heap[src + xs[k] + i];
          }
        }
      }
      phase++;
    }
  }
  return { grid, rowLength: cells };
}

/** dy on the grid for cells [start, start + n): [n, outC], zero where a cell has no output position. */
export function dyGrid(
  backend: BackendWasm,
  dy: TensorInfo,
  gridH: number,
  gridW: number,
  start: number,
  n: number,
): TensorInfo {
  const [, outH, outW, outC] = dy.shape;
  const out = allocF32(backend, [n, outC]);
  const heap = heapF32(backend);
  const src = offsetF32(backend, dy);
  const dst = offsetF32(backend, out);
  const end = start + n;
  let r = start;
  while (r < end) {
    const qw = r % gridW;
    const qh = Math.floor(r / gridW) % gridH;
    const b = Math.floor(r / (gridW * gridH));
    let run: number;
    if (qh >= outH) {
      run = Math.min((b + 1) * gridH * gridW - r, end - r);
      heap.fill(0, dst + (r - start) * outC, dst + (r - start + run) * outC);
    } else if (qw >= outW) {
      run = Math.min(gridW - qw, end - r);
      heap.fill(0, dst + (r - start) * outC, dst + (r - start + run) * outC);
    } else {
      run = Math.min(outW - qw, end - r);
      const s = src + ((b * outH + qh) * outW + qw) * outC;
      heap.copyWithin(dst + (r - start) * outC, s, s + run * outC);
    }
    r += run;
  }
  return out;
}
