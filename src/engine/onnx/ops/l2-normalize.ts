/** y = x/‖x‖ per row of [N, D] (the embedding's last op). */
import type { L2NormalizeNode } from '../../graph/types.js';
import type { OpRule } from './context.js';

export const l2normalize: OpRule<L2NormalizeNode> = (c) => {
  const { e, node: n, inShape, inNeeds } = c;
  if (inShape.length !== 1) throw c.unsupported('l2normalize of a feature map');
  const eps = n.epsilon ?? 1e-12;
  const { y, norm } = c.dual(([t]) => {
    const ss = e.one('ReduceSum', [e.one('Mul', [t, t]), e.ints([1])], { keepdims: 1 });
    const nm = e.one('Sqrt', [e.one('Max', [ss, e.float([eps], [])])]);
    return { y: e.one('Div', [t, nm]), norm: nm };
  });
  return (dy) => {
    if (!inNeeds[0]) return [undefined];
    // dx = (dy − y·⟨dy, y⟩)/‖x‖ (exact while ‖x‖² > ε, where the max() is inactive)
    const dot = e.one('ReduceSum', [e.one('Mul', [dy, y]), e.ints([1])], { keepdims: 1 });
    return [e.one('Div', [e.one('Sub', [dy, e.one('Mul', [y, dot])]), norm])];
  };
};
