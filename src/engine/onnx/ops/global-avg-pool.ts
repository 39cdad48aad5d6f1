/** The mean over all positions of a map → [N, C]; the gradient spreads dy/(H·W) back. */
import type { GlobalAvgPoolNode } from '../../graph/types.js';
import type { OpRule } from './context.js';

export const globalAvgPool: OpRule<GlobalAvgPoolNode> = (c) => {
  const { e, batch: N, inShape, inNeeds } = c;
  c.dual(([t]) => ({ y: e.one('ReduceMean', [t], { axes: [2, 3], keepdims: 0 }) }));
  const [H, W, C] = inShape;
  return (dy) => {
    if (!inNeeds[0]) return [undefined];
    const spread = e.one('Reshape', [dy, e.ints([N, C, 1, 1])]);
    return [e.one('Expand', [e.one('Div', [spread, e.float([H * W], [])]), e.ints([N, C, H, W])])];
  };
};
