/** Max pooling: the forward also returns the argmax indices, to which the backward scatters dy. */
import { pair, type PoolNode } from '../../graph/types.js';
import type { OpRule } from './context.js';
import { explicitPads } from './padding.js';

export const maxPool: OpRule<PoolNode> = (c) => {
  const { e, node: n, batch: N, x, xi, inShape, inNeeds } = c;
  const k = pair(n.size, 1);
  const s = pair(n.strides, 1);
  const pads = explicitPads(n.padding, [inShape[0], inShape[1]], k, s, 1);
  const attrs = { kernel_shape: k, strides: s, pads };
  const [y, idx] = e.op('MaxPool', [x], attrs, 2);
  c.setOutput(y, xi === x ? y : c.inferenceOnly(() => e.one('MaxPool', [xi], attrs)));
  const total = N * inShape[0] * inShape[1] * inShape[2];
  return (dy) => {
    if (!inNeeds[0]) return [undefined];
    // Indices address the whole NCHW input; each output's gradient goes to its argmax.
    const zeros = e.one('ConstantOfShape', [e.ints([total])], {});
    const flat = e.one('ScatterElements', [zeros, e.toVec(idx), e.toVec(dy)], {
      axis: 0,
      reduction: 'add',
    });
    return [e.one('Reshape', [flat, e.ints([N, inShape[2], inShape[0], inShape[1]])])];
  };
};
