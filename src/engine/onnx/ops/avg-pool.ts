/** Average pooling; its gradient spreads dy/(kh·kw) back over each window. */
import { pair, type PoolNode } from '../../graph/types.js';
import type { OpRule } from './context.js';
import { explicitPads, outputPadding } from './padding.js';

export const avgPool: OpRule<PoolNode> = (c) => {
  const { e, node: n, inShape, outShape, inNeeds } = c;
  // 'valid' or explicit padding (tfjs pads with zeros that count), so every window divides by kh·kw;
  // TF 'same' excludes the padding from the count, which this rule does not model.
  if (n.padding === 'same') throw c.unsupported("avgPool with 'same' padding");
  const k = pair(n.size, 1);
  const s = pair(n.strides, 1);
  const pads = explicitPads(n.padding, [inShape[0], inShape[1]], k, s, 1);
  const attrs = { kernel_shape: k, strides: s, pads, count_include_pad: 1 };
  c.dual(([t]) => ({ y: e.one('AveragePool', [t], attrs) }));
  const [H, W, C] = inShape;
  const [Ho, Wo] = outShape;
  return (dy) => {
    if (!inNeeds[0]) return [undefined];
    // Each output spreads dy/(kh·kw) over its window: a per-channel transposed convolution with a
    // constant kernel.
    const K = k[0] * k[1];
    return [
      e.one('ConvTranspose', [dy, e.float(new Float32Array(C * K).fill(1 / K), [C, 1, k[0], k[1]])], {
        group: C,
        kernel_shape: k,
        strides: s,
        pads,
        output_padding: outputPadding([H, W], [Ho, Wo], k, s, 1, pads),
      }),
    ];
  };
};
