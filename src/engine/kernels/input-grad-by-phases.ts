/**
 * The input gradient of a (dense or depthwise) convolution as stride² stride-1 forward convolutions of dy,
 * one per output phase (see conv-geometry.ts), run by the wasm backend's XNNPACK kernels and interleaved
 * into dx. For stride 1 this is a single convolution whose output is dx itself.
 */
import type { TensorInfo } from '@tensorflow/tfjs-core';
import { inputGradPhases, type ConvAxis, type InputGradPhase } from './conv-geometry.js';
import {
  allocF32,
  assertShape,
  disposeInfos,
  explicitPad,
  heapF32,
  offsetF32,
  runWasmKernel,
  type BackendWasm,
  type ExplicitPad,
} from './wasm-backend.js';

export interface PhaseConvolution {
  kernel: string;
  backend: BackendWasm;
  dy: TensorInfo;
  /** Shape of dx, NHWC. */
  inShape: [number, number, number, number];
  rows: ConvAxis;
  cols: ConvAxis;
  /** The sub-filter holding the given taps, where tap -1 is a zero tap (heap tensor, disposed by the caller). */
  subFilter(tapsH: number[], tapsW: number[]): TensorInfo;
  /**
   * A larger tap grid to run a th × tw sub-filter as, padded with zero taps: XNNPACK's depthwise kernels
   * are fast only for some tap counts (a 2×1 filter runs ~10× slower than a 2×2 one).
   */
  tapGrid?(th: number, tw: number): [number, number];
  /** A stride-1 forward convolution of (cropped) dy with a sub-filter, giving [batch, rows, cols, inChannels]. */
  convolve(dy: TensorInfo, filter: TensorInfo, dilations: [number, number], pad: ExplicitPad): TensorInfo;
}

export function inputGradByPhases(spec: PhaseConvolution): TensorInfo {
  const { backend, inShape } = spec;
  const phasesH = inputGradPhases(spec.rows);
  const phasesW = inputGradPhases(spec.cols);
  const live = (ph: InputGradPhase, pw: InputGradPhase): boolean => ph.taps.length > 0 && pw.taps.length > 0;

  if (phasesH.length === 1 && phasesW.length === 1 && live(phasesH[0], phasesW[0])) {
    return runPhase(spec, phasesH[0], phasesW[0]);
  }

  const [batch, height, width, channels] = inShape;
  const allLive = phasesH.every((ph) => phasesW.every((pw) => live(ph, pw)));
  const dx = allocF32(backend, inShape, !allLive);
  for (const ph of phasesH) {
    for (const pw of phasesW) {
      if (!live(ph, pw)) continue;
      const part = runPhase(spec, ph, pw);
      // Interleave: part[b, v, u, :] → dx[b, residueH + v·strideH, residueW + u·strideW, :].
      const heap = heapF32(backend);
      const src = offsetF32(backend, part);
      const dst = offsetF32(backend, dx);
      const sh = spec.rows.stride;
      const sw = spec.cols.stride;
      let s = src;
      for (let b = 0; b < batch; b++) {
        for (let v = 0; v < ph.count; v++) {
          let d = dst + ((b * height + ph.residue + v * sh) * width + pw.residue) * channels;
          for (let u = 0; u < pw.count; u++) {
            heap.copyWithin(d, s, s + channels);
            s += channels;
            d += sw * channels;
          }
        }
      }
      disposeInfos(backend, part);
    }
  }
  return dx;
}

function runPhase(spec: PhaseConvolution, ph: InputGradPhase, pw: InputGradPhase): TensorInfo {
  const { backend, dy } = spec;
  const [batch, outH, outW, outC] = dy.shape;
  const cropped = ph.cropStart > 0 || ph.cropEnd < outH || pw.cropStart > 0 || pw.cropEnd < outW;
  const input = cropped
    ? runWasmKernel(
        'Slice',
        backend,
        { x: dy },
        {
          begin: [0, ph.cropStart, pw.cropStart, 0],
          size: [batch, ph.cropEnd - ph.cropStart, pw.cropEnd - pw.cropStart, outC],
        },
      )
    : dy;
  const [th, tw] = spec.tapGrid?.(ph.taps.length, pw.taps.length) ?? [ph.taps.length, pw.taps.length];
  const extraH = th - ph.taps.length;
  const extraW = tw - pw.taps.length;
  // Zero taps go last, reading (padded) dy beyond the real taps.
  const filter = spec.subFilter(
    [...ph.taps, ...new Array<number>(extraH).fill(-1)],
    [...pw.taps, ...new Array<number>(extraW).fill(-1)],
  );
  const out = spec.convolve(
    input,
    filter,
    [ph.dilation, pw.dilation],
    explicitPad(
      ph.padBefore,
      ph.padAfter + extraH * ph.dilation,
      pw.padBefore,
      pw.padAfter + extraW * pw.dilation,
    ),
  );
  disposeInfos(backend, filter);
  if (cropped) disposeInfos(backend, input);
  assertShape(spec.kernel, out, [batch, ph.count, pw.count, spec.inShape[3]]);
  return out;
}
