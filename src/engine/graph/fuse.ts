/**
 * Inference-only graph rewrites for imported networks (dlib's ResNet is conv → affine → relu 29 times):
 * fold a per-channel affine into the conv that feeds it (w' = w·s, b' = b·s + o), and fuse a following
 * activation into the conv, so each layer is one fused tfjs kernel instead of three ops.
 * Beside fold.ts's foldBatchNorm: both are executor-independent rewrites of a NetworkDef.
 */
import type { Conv2dNode, DepthwiseConv2dNode, GraphNode, NetworkDef, WeightMap } from './types.js';
import { nodeInputs } from './types.js';

type Conv = Conv2dNode | DepthwiseConv2dNode;

export function fuseConvAffineActivation(
  def: NetworkDef,
  weights: WeightMap,
): { def: NetworkDef; weights: WeightMap } {
  const w = new Map(weights);
  const consumers = new Map<string, number>();
  for (const n of def.nodes) for (const i of nodeInputs(n)) consumers.set(i, (consumers.get(i) ?? 0) + 1);
  const nodes: GraphNode[] = [];
  const index = new Map<string, number>();
  // Folded node name → the conv that now computes its value.
  const rename = new Map<string, string>();
  const fix = (name: string) => rename.get(name) ?? name;
  for (const orig of def.nodes) {
    if (orig.op === 'affine' || (orig.op === 'activation' && orig.fn !== 'linear')) {
      const at = index.get(fix(orig.input));
      const prev = at === undefined ? undefined : nodes[at];
      if (
        prev &&
        (prev.op === 'conv2d' || prev.op === 'depthwiseConv2d') &&
        (prev.activation ?? 'linear') === 'linear' &&
        consumers.get(orig.input) === 1 &&
        !def.outputs.includes(orig.input)
      ) {
        if (orig.op === 'affine') {
          foldAffine(prev, orig.name, w);
          nodes[at!] = { ...prev, bias: true };
        } else {
          nodes[at!] = { ...prev, activation: orig.fn, alpha: orig.alpha } as Conv;
        }
        rename.set(orig.name, prev.name);
        continue;
      }
    }
    let n: GraphNode = orig;
    if (n.op === 'add' || n.op === 'concat') n = { ...n, inputs: n.inputs.map(fix) };
    else if (n.op !== 'input') n = { ...n, input: fix(n.input) };
    index.set(n.name, nodes.length);
    nodes.push(n);
  }
  return { def: { ...def, nodes, outputs: def.outputs.map(fix) }, weights: w };
}

function foldAffine(conv: Conv, affine: string, w: WeightMap): void {
  const k = w.get(`${conv.name}/kernel`)!;
  const scale = w.get(`${affine}/scale`)!.data;
  const offset = w.get(`${affine}/offset`)!.data;
  const outC = scale.length;
  const kernel = new Float32Array(k.data.length);
  // The output channel is the fastest-varying index of HWIO kernels (and of [kh, kw, in, mult]).
  for (let i = 0; i < kernel.length; i++) kernel[i] = k.data[i] * scale[i % outC];
  const old = w.get(`${conv.name}/bias`)?.data;
  const bias = new Float32Array(outC);
  for (let c = 0; c < outC; c++) bias[c] = (old ? old[c] : 0) * scale[c] + offset[c];
  w.set(`${conv.name}/kernel`, { shape: k.shape, data: kernel });
  w.set(`${conv.name}/bias`, { shape: [outC], data: bias });
  w.delete(`${affine}/scale`);
  w.delete(`${affine}/offset`);
}
