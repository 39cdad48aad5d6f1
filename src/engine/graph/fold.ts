import type {
  BatchNormNode,
  Conv2dNode,
  DepthwiseConv2dNode,
  GraphNode,
  NetworkDef,
  WeightMap,
} from './types.js';
import { nodeInputs } from './types.js';

/**
 * Fold inference-mode batch-norm into the convolution that feeds it: w' = w·γ/√(σ²+ε),
 * b' = (b − μ)·γ/√(σ²+ε) + β. Fewer ops per forward, and it sidesteps batch-norm layers without a
 * gamma (nsfwjs' InceptionV3), whose gradients tfjs mishandles. Only folds when the conv is the
 * batch-norm's sole input and the batch-norm is the conv's sole consumer and the conv is linear.
 */
export function foldBatchNorm(def: NetworkDef, weights: WeightMap): { def: NetworkDef; weights: WeightMap } {
  const consumers = new Map<string, number>();
  for (const n of def.nodes) for (const i of nodeInputs(n)) consumers.set(i, (consumers.get(i) ?? 0) + 1);
  const byName = new Map(def.nodes.map((n) => [n.name, n]));
  const out = new Map(weights);
  const rename = new Map<string, string>(); // folded bn name -> conv name
  const nodes: GraphNode[] = [];
  const folded = new Set<string>();
  for (const n of def.nodes) {
    if (n.op === 'batchNorm') {
      const prev = byName.get(n.input);
      if (
        prev &&
        (prev.op === 'conv2d' || prev.op === 'depthwiseConv2d') &&
        (prev.activation ?? 'linear') === 'linear' &&
        consumers.get(prev.name) === 1 &&
        !def.outputs.includes(prev.name)
      ) {
        foldInto(prev, n, out);
        folded.add(prev.name);
        rename.set(n.name, prev.name);
        continue;
      }
    }
    nodes.push(n);
  }
  const fix = (name: string) => rename.get(name) ?? name;
  const rewritten = nodes.map((n): GraphNode => {
    let m: GraphNode = n;
    if (folded.has(n.name)) m = { ...(n as Conv2dNode | DepthwiseConv2dNode), bias: true };
    if ('input' in m) return { ...m, input: fix(m.input) } as GraphNode;
    if (m.op === 'add' || m.op === 'concat') return { ...m, inputs: m.inputs.map(fix) };
    return m;
  });
  // Keep the batch-norm's name reachable as a tap: outputs and taps named after it map to the conv.
  return { def: { ...def, nodes: rewritten, outputs: def.outputs.map(fix) }, weights: out };
}

function foldInto(conv: Conv2dNode | DepthwiseConv2dNode, bn: BatchNormNode, w: WeightMap): void {
  const k = w.get(`${conv.name}/kernel`)!;
  const mean = w.get(`${bn.name}/mean`)!.data;
  const variance = w.get(`${bn.name}/variance`)!.data;
  const gamma = w.get(`${bn.name}/gamma`)?.data;
  const beta = w.get(`${bn.name}/beta`)?.data;
  const outC = mean.length;
  const factor = new Float32Array(outC);
  for (let c = 0; c < outC; c++) factor[c] = (gamma ? gamma[c] : 1) / Math.sqrt(variance[c] + bn.epsilon);
  const kernel = new Float32Array(k.data.length);
  // Output channel is the fastest-varying index in HWIO, and in [kh,kw,in,mult] for depthwise (in·mult).
  for (let i = 0; i < kernel.length; i++) kernel[i] = k.data[i] * factor[i % outC];
  const oldBias = w.get(`${conv.name}/bias`)?.data;
  const bias = new Float32Array(outC);
  for (let c = 0; c < outC; c++)
    bias[c] = ((oldBias ? oldBias[c] : 0) - mean[c]) * factor[c] + (beta ? beta[c] : 0);
  w.set(`${conv.name}/kernel`, { shape: k.shape, data: kernel });
  w.set(`${conv.name}/bias`, { shape: [outC], data: bias });
  for (const role of ['mean', 'variance', 'gamma', 'beta']) w.delete(`${bn.name}/${role}`);
}
