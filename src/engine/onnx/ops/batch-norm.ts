/**
 * Batch normalisation in training mode: normalised by the batch's own statistics, which the forward graph
 * hands out; the inference graph uses the moving statistics instead.
 */
import type { BatchNormNode } from '../../graph/types.js';
import type { OpRule } from './context.js';

export const batchNorm: OpRule<BatchNormNode> = (c) => {
  const { e, node: n, batch: N, x, xi, outShape, inNeeds } = c;
  const C = outShape[outShape.length - 1];
  if (outShape.length !== 3) throw c.unsupported('batch norm of a vector');
  const gamma = n.scale === false ? undefined : c.weight('gamma');
  const beta = n.center === false ? undefined : c.weight('beta');
  const g = gamma ?? e.float(new Float32Array(C).fill(1), [C]);
  const b = beta ?? e.float(new Float32Array(C), [C]);
  const moving = [c.weight('mean'), c.weight('variance')];
  const eps = { float: n.epsilon };
  // onnxruntime's fused training-mode batch norm; momentum 0 makes its "running" outputs the batch
  // mean and (biased, as tf.moments) variance, which become the step's statistics.
  const [y, mean, variance] = e.op(
    'BatchNormalization',
    [x, g, b, ...moving],
    {
      epsilon: eps,
      momentum: { float: 0 },
      training_mode: 1,
    },
    3,
  );
  c.saveStats(mean, variance);
  c.setOutput(
    y,
    c.inferenceOnly(() => e.one('BatchNormalization', [xi, g, b, ...moving], { epsilon: eps })),
  );
  const M = N * outShape[0] * outShape[1];
  return (dy) => {
    // x̂ is recomputed here rather than kept from the forward pass (the fused op does not return it).
    const invstd = e.one('Reciprocal', [
      e.one('Sqrt', [e.one('Add', [e.reshapeC(variance, C), e.float([n.epsilon], [])])]),
    ]);
    const xhat = e.one('Mul', [e.one('Sub', [x, e.reshapeC(mean, C)]), invstd]);
    const dbeta = e.sumAxes(dy, [0, 2, 3], 1);
    const dgamma = e.sumAxes(e.one('Mul', [dy, xhat]), [0, 2, 3], 1);
    if (beta && c.trainable('beta')) c.setGrad(beta, e.toVec(dbeta));
    if (gamma && c.trainable('gamma')) c.setGrad(gamma, e.toVec(dgamma));
    if (!inNeeds[0]) return [undefined];
    // dx = γσ⁻¹·(dy − mean(dy) − x̂·mean(dy·x̂)), with the per-channel factors multiplied out first
    const scale = gamma ? e.one('Mul', [e.reshapeC(gamma, C), invstd]) : invstd;
    const perM = e.float([1 / M], []);
    const c1 = e.one('Mul', [scale, e.one('Mul', [dgamma, perM])]);
    const c2 = e.one('Mul', [scale, e.one('Mul', [dbeta, perM])]);
    return [e.one('Sub', [e.one('Sub', [e.one('Mul', [dy, scale]), e.one('Mul', [xhat, c1])]), c2])];
  };
};
