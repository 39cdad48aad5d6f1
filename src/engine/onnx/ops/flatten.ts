/** A map to a vector, in NHWC order so dense weights mean the same as on the tfjs executor. */
import type { FlattenNode } from '../../graph/types.js';
import type { OpRule } from './context.js';

export const flatten: OpRule<FlattenNode> = (c) => {
  const { e, batch: N, inShape, inNeeds } = c;
  if (inShape.length !== 3) {
    c.setOutput(c.x, c.xi);
    return (dy) => [dy];
  }
  c.dual(([t]) => ({
    y: e.one('Reshape', [e.one('Transpose', [t], { perm: [0, 2, 3, 1] }), e.ints([N, -1])]),
  }));
  return (dy) => {
    if (!inNeeds[0]) return [undefined];
    const nhwc = e.one('Reshape', [dy, e.ints([N, inShape[0], inShape[1], inShape[2]])]);
    return [e.one('Transpose', [nhwc], { perm: [0, 3, 1, 2] })];
  };
};
