/** Convolution as im2col + GEMM, which onnxruntime runs faster than its Conv on small maps. */
import type { Emitter } from './emitter.js';

/**
 * Output maps of at most this many positions (8×8) are convolved as im2col + GEMM rather than by
 * onnxruntime's Conv, which runs such small maps at about half its GEMM rate. When chosen (a temporary
 * switch, the bench's networks): steps 17 % (small CNN) and 23 % (ResNet-18) faster than with Conv
 * everywhere; a threshold of 256 positions was slower than 64.
 */
export const SMALL_MAP = 64;

export interface ConvGeometry {
  strides: [number, number];
  dilations: [number, number];
  pads: number[];
}

/**
 * im2col by a grouped convolution with one-hot kernels: output channel (c, a, b) is input channel c seen
 * through tap (a, b), with the given stride, dilation and padding → [N, C·kh·kw, Ho, Wo].
 */
export function im2col(e: Emitter, t: string, C: number, k: [number, number], attrs: ConvGeometry): string {
  const K = k[0] * k[1];
  const oneHot = new Float32Array(C * K * K);
  for (let c = 0; c < C * K; c++) oneHot[c * K + (c % K)] = 1;
  return e.one('Conv', [t, e.float(oneHot, [C * K, 1, k[0], k[1]])], {
    group: C,
    kernel_shape: k,
    ...attrs,
  });
}

/**
 * A convolution (kernel [Cout, Cin, kh, kw]) of a batch of N as im2col and one GEMM over batch × positions.
 * On small maps onnxruntime's Conv runs well below its GEMM rate; see SMALL_MAP.
 */
export function convAsGemm(
  e: Emitter,
  N: number,
  t: string,
  w: string,
  Cin: number,
  Cout: number,
  k: [number, number],
  attrs: ConvGeometry,
  out: [number, number],
): string {
  const KC = Cin * k[0] * k[1];
  const P = out[0] * out[1];
  const cols = e.one('Reshape', [
    e.one('Transpose', [e.one('Reshape', [im2col(e, t, Cin, k, attrs), e.ints([N, KC, P])])], {
      perm: [1, 0, 2],
    }),
    e.ints([KC, N * P]),
  ]);
  const y = e.one('Gemm', [e.one('Reshape', [w, e.ints([Cout, KC])]), cols]); // [Cout, N·P]
  return e.one('Transpose', [e.one('Reshape', [y, e.ints([Cout, N, out[0], out[1]])])], {
    perm: [1, 0, 2, 3],
  });
}
