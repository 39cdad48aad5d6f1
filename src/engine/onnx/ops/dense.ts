/** A fully connected layer on [N, in] vectors (+ bias, + fused activation). */
import type { DenseNode } from '../../graph/types.js';
import { applyActivation, checkActivation } from './activation.js';
import type { OpRule } from './context.js';

export const dense: OpRule<DenseNode> = (c) => {
  const { e, node: n, x, inShape, inNeeds } = c;
  if (inShape.length !== 1) throw c.unsupported('dense on a feature map (flatten first)');
  checkActivation(c, n.activation);
  const kernel = c.weight('kernel');
  const bias = n.bias === false ? undefined : c.weight('bias');
  const a = c.dual(([t]) =>
    applyActivation(c, bias ? e.one('Gemm', [t, kernel, bias]) : e.one('MatMul', [t, kernel]), n.activation),
  );
  return (dyOut) => {
    const dy = a.back(dyOut);
    if (c.trainable('kernel')) c.setGrad(kernel, e.one('Gemm', [x, dy], { transA: 1 }));
    if (bias && c.trainable('bias')) c.setGrad(bias, e.sumAxes(dy, [0], 0));
    return [inNeeds[0] ? e.one('Gemm', [dy, kernel], { transB: 1 }) : undefined];
  };
};
