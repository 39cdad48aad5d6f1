import { VisageError } from '../../errors.js';
import { nodeInputs, pair, type GraphNode, type NetworkDef, type Padding } from './types.js';

/** Activation shape without the batch dimension: [H, W, C] for maps, [C] after flatten/dense. */
export type Shape = number[];

function outSize(inSize: number, k: number, s: number, d: number, padding: Padding, axis: 0 | 1): number {
  const ek = (k - 1) * d + 1;
  if (padding === 'same') return Math.ceil(inSize / s);
  if (padding === 'valid') return Math.floor((inSize - ek) / s) + 1;
  const [a, b] = padding[axis];
  return Math.floor((inSize + a + b - ek) / s) + 1;
}

function spatial(
  n: { kernel?: unknown; size?: unknown; strides?: unknown; padding: Padding; dilation?: number },
  shape: Shape,
): [number, number] {
  const [kh, kw] = pair((n.kernel ?? n.size) as number | [number, number], 1);
  const [sh, sw] = pair(n.strides as number | [number, number] | undefined, 1);
  const d = n.dilation ?? 1;
  return [outSize(shape[0], kh, sh, d, n.padding, 0), outSize(shape[1], kw, sw, d, n.padding, 1)];
}

/** Every node's output shape for a given input size; throws on an inconsistent graph. */
export function inferShapes(def: NetworkDef, input: [number, number, number]): Map<string, Shape> {
  const shapes = new Map<string, Shape>();
  const get = (name: string, by: string): Shape => {
    const s = shapes.get(name);
    if (!s)
      throw new VisageError('E_BAD_MODEL', `node "${by}" reads "${name}", which is not defined before it`);
    return s;
  };
  for (const n of def.nodes) {
    const ins = nodeInputs(n).map((i) => get(i, n.name));
    const x = ins[0];
    let out: Shape;
    switch (n.op) {
      case 'input':
        out = [...input];
        break;
      case 'conv2d':
        out = [...spatial(n, x), n.filters];
        break;
      case 'depthwiseConv2d':
        out = [...spatial(n, x), x[2] * (n.multiplier ?? 1)];
        break;
      case 'maxPool':
      case 'avgPool':
        out = [...spatial(n, x), x[2]];
        break;
      case 'batchNorm':
      case 'affine':
      case 'activation':
      case 'l2normalize':
        out = [...x];
        break;
      case 'dense':
        out = [n.units];
        break;
      case 'add':
        for (const s of ins) {
          if (s.join() !== x.join())
            throw new VisageError(
              'E_BAD_MODEL',
              `add "${n.name}": shapes ${ins.map((q) => `[${q}]`).join(' vs ')}`,
            );
        }
        out = [...x];
        break;
      case 'concat':
        out = [...x.slice(0, -1), ins.reduce((c, s) => c + s[s.length - 1], 0)];
        break;
      case 'globalAvgPool':
        out = [x[2]];
        break;
      case 'flatten':
        out = [x.reduce((a, b) => a * b, 1)];
        break;
      case 'pad':
        out = [x[0] + n.pads[0][0] + n.pads[0][1], x[1] + n.pads[1][0] + n.pads[1][1], x[2]];
        break;
      case 'padChannels':
        out = [x[0], x[1], n.channels];
        break;
    }
    if (out.some((v) => !(v > 0)))
      throw new VisageError(
        'E_BAD_MODEL',
        `node "${n.name}" has an empty output [${out}] for input [${input}]`,
      );
    shapes.set(n.name, out);
  }
  return shapes;
}

export interface WeightSpec {
  name: string;
  shape: number[];
  role: 'kernel' | 'bias' | 'gamma' | 'beta' | 'mean' | 'variance' | 'scale' | 'offset';
  /** Fan-in for initialisation (kernels only). */
  fanIn?: number;
}

/** The weights a node owns, given its input shape. */
export function nodeWeights(n: GraphNode, inShape: Shape | undefined): WeightSpec[] {
  const c = inShape ? inShape[inShape.length - 1] : 0;
  const w = (role: WeightSpec['role'], shape: number[], fanIn?: number): WeightSpec => ({
    name: `${n.name}/${role}`,
    shape,
    role,
    fanIn,
  });
  switch (n.op) {
    case 'conv2d': {
      const [kh, kw] = pair(n.kernel, 1);
      return [w('kernel', [kh, kw, c, n.filters], kh * kw * c), ...(n.bias ? [w('bias', [n.filters])] : [])];
    }
    case 'depthwiseConv2d': {
      const [kh, kw] = pair(n.kernel, 1);
      const m = n.multiplier ?? 1;
      return [w('kernel', [kh, kw, c, m], kh * kw), ...(n.bias ? [w('bias', [c * m])] : [])];
    }
    case 'dense':
      return [w('kernel', [c, n.units], c), ...(n.bias === false ? [] : [w('bias', [n.units])])];
    case 'batchNorm':
      return [
        ...(n.scale === false ? [] : [w('gamma', [c])]),
        ...(n.center === false ? [] : [w('beta', [c])]),
        w('mean', [c]),
        w('variance', [c]),
      ];
    case 'affine':
      return [w('scale', [c]), w('offset', [c])];
    default:
      return [];
  }
}

/** Every weight of the network, in node order. Input size only matters through the channel counts. */
export function weightSpecs(def: NetworkDef, input: [number, number, number]): WeightSpec[] {
  const shapes = inferShapes(def, input);
  return def.nodes.flatMap((n) => {
    const ins = nodeInputs(n);
    return nodeWeights(n, ins.length ? shapes.get(ins[0]) : undefined);
  });
}
