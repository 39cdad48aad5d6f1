/** Zero padding of a map's rows and columns; the gradient slices the padding off again. */
import type { PadNode } from '../../graph/types.js';
import type { OpRule } from './context.js';

export const pad: OpRule<PadNode> = (c) => {
  const { e, node: n, inShape, inNeeds } = c;
  if (n.mode && n.mode !== 'constant') throw c.unsupported(`${n.mode} padding`);
  const [[t, b], [l, r]] = n.pads;
  c.dual(([x]) => ({ y: e.one('Pad', [x, e.ints([0, 0, t, l, 0, 0, b, r])]) }));
  const [H, W] = inShape;
  return (dy) => [
    inNeeds[0] ? e.one('Slice', [dy, e.ints([t, l]), e.ints([t + H, l + W]), e.ints([2, 3])]) : undefined,
  ];
};
