/** Element-wise activations: fused into conv2d, dense and add, and as an op of their own. */
import type { Activation, ActivationNode, GraphNode } from '../../graph/types.js';
import type { OpContext, OpRule } from './context.js';

const SUPPORTED: ReadonlySet<Activation> = new Set(['linear', 'relu', 'sigmoid', 'tanh']);

/** Throws unless the trainer has a rule for `fn` (checked before any node is emitted). */
export function checkActivation(c: OpContext<GraphNode>, fn: Activation | undefined): void {
  if (fn && !SUPPORTED.has(fn)) throw c.unsupported(`activation ${fn}`);
}

/** y = act(x); returns y and the backward rule dy ↦ dx through the activation. */
export function applyActivation(
  c: OpContext<GraphNode>,
  x: string,
  fn: Activation | undefined,
): { y: string; back: (dy: string) => string } {
  const e = c.e;
  const f = fn ?? 'linear';
  if (!SUPPORTED.has(f)) throw c.unsupported(`activation ${f}`);
  if (f === 'linear') return { y: x, back: (dy) => dy };
  if (f === 'relu') {
    const y = e.one('Relu', [x]);
    return {
      y,
      back: (dy) => e.one('Where', [e.one('Greater', [y, e.float([0], [])]), dy, e.float([0], [])]),
    };
  }
  if (f === 'sigmoid') {
    const y = e.one('Sigmoid', [x]);
    return { y, back: (dy) => e.one('Mul', [dy, e.one('Mul', [y, e.one('Sub', [e.float([1], []), y])])]) };
  }
  const y = e.one('Tanh', [x]);
  return { y, back: (dy) => e.one('Mul', [dy, e.one('Sub', [e.float([1], []), e.one('Mul', [y, y])])]) };
}

export const activation: OpRule<ActivationNode> = (c) => {
  const a = c.dual(([t]) => applyActivation(c, t, c.node.fn));
  return (dy) => [a.back(dy)];
};
