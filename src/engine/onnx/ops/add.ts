/** The sum of several maps (residual connections), + fused activation: dy reaches every input unchanged. */
import type { AddNode } from '../../graph/types.js';
import { applyActivation } from './activation.js';
import type { OpRule } from './context.js';

export const add: OpRule<AddNode> = (c) => {
  const a = c.dual((ts) => applyActivation(c, c.e.one('Sum', ts), c.node.activation));
  return (dy) => {
    const g = a.back(dy);
    return c.inNeeds.map((need) => (need ? g : undefined));
  };
};
