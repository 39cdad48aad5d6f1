import { inferShapes } from './shapes.js';
import { pair, type NetworkDef } from './types.js';

/**
 * Multiply-add FLOPs (2 per multiply-accumulate) of one image's forward pass through the convolutions and
 * dense layers — the work that dominates, and the figure benchmarks divide by time to show how close an
 * engine runs to the machine's arithmetic limit. A training step costs about 3× this (forward, input
 * gradient, weight gradient).
 */
export function forwardFlops(def: NetworkDef, input: [number, number, number]): number {
  const shapes = inferShapes(def, input);
  let flops = 0;
  for (const n of def.nodes) {
    if (n.op !== 'conv2d' && n.op !== 'depthwiseConv2d' && n.op !== 'dense') continue;
    const out = shapes.get(n.name)!;
    const inp = shapes.get(n.input)!;
    const cin = inp[inp.length - 1];
    if (n.op === 'dense') {
      flops += 2 * inp.reduce((a, b) => a * b, 1) * n.units;
      continue;
    }
    const [kh, kw] = pair(n.kernel, 1);
    const outputs = out.reduce((a, b) => a * b, 1);
    flops += 2 * outputs * kh * kw * (n.op === 'conv2d' ? cin : 1);
  }
  return flops;
}
