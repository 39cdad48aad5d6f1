/** The image: fed NHWC, worked on in NCHW (onnxruntime's native layout). No gradient. */
import type { InputNode } from '../../graph/types.js';
import type { OpRule } from './context.js';

export const IMAGE = 'image';

export const input: OpRule<InputNode> = (c) => {
  const t = c.e.one('Transpose', [IMAGE], { perm: [0, 3, 1, 2] });
  c.setOutput(t, t);
  return undefined;
};
