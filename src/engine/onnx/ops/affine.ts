/** Per-channel scale and offset of a feature map (dlib's frozen batch norm). */
import type { AffineNode } from '../../graph/types.js';
import type { OpRule } from './context.js';

export const affine: OpRule<AffineNode> = (c) => {
  const { e, x, outShape, inNeeds } = c;
  const C = outShape[outShape.length - 1];
  if (outShape.length !== 3) throw c.unsupported('affine of a vector');
  const scale = c.weight('scale');
  const offset = c.weight('offset');
  const s4 = e.reshapeC(scale, C);
  const o4 = e.reshapeC(offset, C);
  c.dual(([t]) => ({ y: e.one('Add', [e.one('Mul', [t, s4]), o4]) }));
  return (dy) => {
    if (c.trainable('scale')) c.setGrad(scale, e.sumAxes(e.one('Mul', [dy, x]), [0, 2, 3], 0));
    if (c.trainable('offset')) c.setGrad(offset, e.sumAxes(dy, [0, 2, 3], 0));
    return [inNeeds[0] ? e.one('Mul', [dy, s4]) : undefined];
  };
};
