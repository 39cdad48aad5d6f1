/** Zero channels appended to a map (dlib's downsampling shortcut); the gradient drops them. */
import type { PadChannelsNode } from '../../graph/types.js';
import type { OpRule } from './context.js';

export const padChannels: OpRule<PadChannelsNode> = (c) => {
  const { e, node: n, inShape, inNeeds } = c;
  const ch = inShape[2];
  c.dual(([x]) => ({ y: e.one('Pad', [x, e.ints([0, 0, 0, 0, 0, n.channels - ch, 0, 0])]) }));
  return (dy) => [inNeeds[0] ? e.one('Slice', [dy, e.ints([0]), e.ints([ch]), e.ints([1])]) : undefined];
};
