/**
 * 2-D convolution (+ bias, + fused activation). Forward: onnxruntime's Conv, or im2col + GEMM on small
 * maps. Backward: the weight gradient as im2col + GEMM against dy; the input gradient as a convolution
 * with the flipped kernel (unit stride) or a ConvTranspose.
 */
import { pair, type Conv2dNode } from '../../graph/types.js';
import { applyActivation, checkActivation } from './activation.js';
import type { OpRule } from './context.js';
import type { Emitter } from './emitter.js';
import { convAsGemm, im2col, SMALL_MAP } from './im2col.js';
import { explicitPads, outputPadding } from './padding.js';

export const conv2d: OpRule<Conv2dNode> = (c) => {
  const { e, node: n, batch: N, x, inShape, outShape, inNeeds } = c;
  checkActivation(c, n.activation);
  const k = pair(n.kernel, 1);
  const s = pair(n.strides, 1);
  const d = n.dilation ?? 1;
  const pads = explicitPads(n.padding, [inShape[0], inShape[1]], k, s, d);
  const attrs = { kernel_shape: k, strides: s, dilations: [d, d], pads };
  const kernel = c.weight('kernel');
  const bias = n.bias ? c.weight('bias') : undefined;
  const [H, W, I] = inShape;
  const [Ho, Wo, O] = outShape;
  const K = k[0] * k[1];
  const oihw = c.oihw(kernel);
  const w = oihw ? kernel : e.one('Transpose', [kernel], { perm: [3, 2, 0, 1] }); // HWIO → OIHW
  const smallMap = Ho * Wo <= SMALL_MAP && k[0] * k[1] > 1;
  const geo = { strides: s, dilations: [d, d] as [number, number], pads };
  const a = c.dual(([t]) => {
    let y: string;
    if (smallMap) {
      y = convAsGemm(e, N, t, w, I, O, k, geo, [Ho, Wo]);
      if (bias) y = e.one('Add', [y, e.reshapeC(bias, O)]);
    } else y = e.one('Conv', bias ? [t, w, bias] : [t, w], attrs);
    return applyActivation(c, y, n.activation);
  });
  return (dyOut) => {
    const dy = a.back(dyOut);
    if (c.trainable('kernel')) {
      // dW[o,i,a,b] = Σ dy[n,o,y,x]·xpad[n,i,y·s+a·d,x·s+b·d]. im2col by a grouped convolution with
      // one-hot kernels (output channel (i, a, b) is input channel i seen through tap (a, b), with the
      // forward's stride, dilation and padding), then per image [I·K, P] × [P, O] (P = Ho·Wo), summed
      // over the batch. Twice as fast in onnxruntime as slicing the taps out and stacking them, and
      // far faster than a convolution with dy as the kernel (a GEMM only kh·kw wide).
      let g: string; // [I·kh·kw, O]: rows (in, kh, kw)
      const cols = im2col(e, x, I, k, geo);
      const P = Ho * Wo;
      const cols3 = e.one('Reshape', [cols, e.ints([N, I * K, P])]);
      const dy3 = e.one('Reshape', [dy, e.ints([N, O, P])]);
      if (O <= P) {
        // Large maps, few channels: per-image products, then a sum over the batch no larger than cols.
        const dyT = e.one('Transpose', [dy3], { perm: [0, 2, 1] });
        g = e.sumAxes(e.one('MatMul', [cols3, dyT]), [0], 0);
      } else {
        // Small maps, many channels: batch and positions side by side, one GEMM.
        const flat = (t: string, rows: number) =>
          e.one('Reshape', [e.one('Transpose', [t], { perm: [1, 0, 2] }), e.ints([rows, N * P])]);
        g = e.one('Gemm', [flat(cols3, I * K), flat(dy3, O)], { transB: 1 });
      }
      c.setGrad(
        kernel,
        oihw
          ? e.one('Reshape', [e.one('Transpose', [g], { perm: [1, 0] }), e.ints([O, I, k[0], k[1]])])
          : e.one('Reshape', [
              e.one('Transpose', [e.one('Reshape', [g, e.ints([I, K, O])])], { perm: [1, 0, 2] }),
              e.ints([k[0], k[1], I, O]),
            ]),
      );
    }
    if (bias && c.trainable('bias')) c.setGrad(bias, e.sumAxes(dy, [0, 2, 3], 0));
    if (!inNeeds[0]) return [undefined];
    if (s[0] === 1 && s[1] === 1 && d === 1 && pads.every((p, i) => p <= k[i % 2] - 1)) {
      // Unit stride: the input gradient is a plain convolution of dy with the kernel transposed
      // (in ↔ out) and flipped, padded by k − 1 − p: onnxruntime's blocked Conv runs it faster than
      // its ConvTranspose.
      const flipped = flipInOut(e, w, O, I, k);
      const back = [k[0] - 1 - pads[0], k[1] - 1 - pads[1], k[0] - 1 - pads[2], k[1] - 1 - pads[3]];
      return [
        H * W <= SMALL_MAP
          ? convAsGemm(e, N, dy, flipped, O, I, k, { strides: [1, 1], dilations: [1, 1], pads: back }, [H, W])
          : e.one('Conv', [dy, flipped], { kernel_shape: k, pads: back }),
      ];
    }
    const dx = e.one('ConvTranspose', [dy, w], {
      kernel_shape: k,
      strides: s,
      dilations: [d, d],
      pads,
      output_padding: outputPadding([H, W], [Ho, Wo], k, s, d, pads),
    });
    return [dx];
  };
};

/**
 * The kernel [O, I, kh, kw] as [I, O, kh, kw] with both spatial axes reversed. The reversal of the kh·kw
 * taps is a GEMM with the anti-diagonal permutation matrix (each output is one product by 1 plus zeros:
 * exact), several times faster in onnxruntime than a Slice with negative steps, which copies element by
 * element; the in ↔ out swap is then a Transpose that moves whole reversed tap rows.
 */
function flipInOut(e: Emitter, w: string, O: number, I: number, k: [number, number]): string {
  const K = k[0] * k[1];
  if (K === 1) return e.one('Transpose', [w], { perm: [1, 0, 2, 3] });
  const reverse = new Float32Array(K * K);
  for (let t = 0; t < K; t++) reverse[t * K + (K - 1 - t)] = 1;
  const taps = e.one('MatMul', [e.one('Reshape', [w, e.ints([O * I, K])]), e.float(reverse, [K, K])]);
  const swapped = e.one('Transpose', [e.one('Reshape', [taps, e.ints([O, I, K])])], { perm: [1, 0, 2] });
  return e.one('Reshape', [swapped, e.ints([I, O, k[0], k[1]])]);
}
