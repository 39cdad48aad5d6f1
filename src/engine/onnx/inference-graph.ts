/**
 * A NetworkDef as one ONNX inference graph for onnxruntime: weights baked in as initializers (already
 * permuted to OIHW in JS, so the graph holds no weight transposes), NHWC → NCHW once at the input and
 * back once for each 4-D output, and the batch (and any spatial size the definition leaves open)
 * symbolic, so one session serves every batch size and every photo size.
 *
 * The caller folds batch norm and affine layers first (fold.ts, fuse.ts); onnxruntime's own optimiser
 * then fuses Conv + bias + Relu/Clip into one FusedConv. Unlike training-graph.ts (static shapes, a
 * single vector output, gradients), this graph is forward-only and returns any set of taps.
 */
import { VisageError } from '../../errors.js';
import { inferShapes } from '../graph/shapes.js';
import { reachableNodes } from '../graph/reachable.js';
import {
  nodeInputs,
  pair,
  type Activation,
  type GraphNode,
  type NetworkDef,
  type Padding,
  type WeightMap,
} from '../graph/types.js';
import { FLOAT, INT64, type AttrValue, type OnnxModel, type OnnxNode, type OnnxTensor } from './proto.js';

export const INFERENCE_INPUT = 'image';

export interface InferenceGraph {
  model: OnnxModel;
  /** Rank of each requested output as the caller sees it (4: NHWC map, 2: [N, C] vector). */
  ranks: Map<string, number>;
}

/** `data` of `shape` with its axes reordered by `perm` (out axis i = in axis perm[i]). */
export function permute(data: Float32Array, shape: number[], perm: number[]): Float32Array {
  const outShape = perm.map((p) => shape[p]);
  const inStride = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const out = new Float32Array(data.length);
  const idx = new Array<number>(shape.length).fill(0);
  for (let o = 0; o < out.length; o++) {
    let src = 0;
    for (let i = 0; i < perm.length; i++) src += idx[i] * inStride[perm[i]];
    out[o] = data[src];
    for (let i = perm.length - 1; i >= 0; i--) {
      if (++idx[i] < outShape[i]) break;
      idx[i] = 0;
    }
  }
  return out;
}

/** TF padding as ONNX attributes: 'same' is SAME_UPPER (the extra row/column at the end, as TF does). */
function padAttrs(p: Padding): Record<string, AttrValue> {
  if (p === 'same') return { auto_pad: 'SAME_UPPER' };
  if (p === 'valid') return { pads: [0, 0, 0, 0] };
  return { pads: [p[0][0], p[1][0], p[0][1], p[1][1]] };
}

export function buildInferenceGraph(
  def: NetworkDef,
  weights: WeightMap,
  outputs: string[] = def.outputs,
): InferenceGraph {
  const inputNode = def.nodes.find((n) => n.op === 'input');
  if (!inputNode || inputNode.op !== 'input')
    throw new VisageError('E_BAD_MODEL', `${def.name} has no input node`);
  const [ih, iw, ic] = inputNode.shape;
  // Channel counts and ranks do not depend on the spatial size: any size the graph accepts will do.
  const shapes = inferShapes(def, [ih ?? 512, iw ?? 512, ic]);
  const need = reachableNodes(def, outputs);

  const nodes: OnnxNode[] = [];
  const initializers: OnnxTensor[] = [];
  let count = 0;
  const op = (type: string, inputs: string[], attrs?: Record<string, AttrValue>): string => {
    const out = `t${count++}`;
    nodes.push({ op: type, inputs, outputs: [out], attrs });
    return out;
  };
  const float = (data: Float32Array, dims: number[]): string => {
    const name = `c${count++}`;
    initializers.push({ name, dims, type: FLOAT, data });
    return name;
  };
  const ints = (v: number[]): string => {
    const name = `c${count++}`;
    initializers.push({ name, dims: [v.length], type: INT64, data: BigInt64Array.from(v.map(BigInt)) });
    return name;
  };
  const w = (node: string, role: string) => {
    const t = weights.get(`${node}/${role}`);
    if (!t) throw new VisageError('E_BAD_MODEL', `network ${def.name} lacks weight "${node}/${role}"`);
    return t;
  };
  const unsupported = (n: GraphNode, what: string) =>
    new VisageError('E_BAD_OPTION', `the onnx engine does not support ${what} (node "${n.name}")`);
  const activate = (n: GraphNode, x: string, fn: Activation | undefined, alpha?: number): string => {
    switch (fn ?? 'linear') {
      case 'linear':
        return x;
      case 'relu':
        return op('Relu', [x]);
      case 'relu6':
        return op('Clip', [x, float(new Float32Array([0]), []), float(new Float32Array([6]), [])]);
      case 'leakyRelu':
        return op('LeakyRelu', [x], { alpha: { float: alpha ?? 0.2 } });
      case 'sigmoid':
        return op('Sigmoid', [x]);
      case 'tanh':
        return op('Tanh', [x]);
      case 'elu':
        return op('Elu', [x]);
      default:
        throw unsupported(n, `activation ${fn}`);
    }
  };
  // Per-channel constant broadcast against NCHW maps ([1, C, 1, 1]) or [N, C] vectors ([C]).
  const perChannel = (data: Float32Array, rank: number) =>
    float(data, rank === 4 ? [1, data.length, 1, 1] : [data.length]);
  /** A map flattened in NHWC order, so dense weights mean what they mean on the tfjs executor. */
  const flattenNhwc = (x: string) =>
    op('Flatten', [op('Transpose', [x], { perm: [0, 2, 3, 1] })], { axis: 1 });

  const t = new Map<string, string>(); // graph node → ONNX tensor (NCHW maps, [N, C] vectors)
  const rank = (name: string) => (shapes.get(name)!.length === 3 ? 4 : 2);
  for (const n of def.nodes) {
    if (!need.has(n.name)) continue;
    const x = n.op === 'input' ? '' : t.get(nodeInputs(n)[0])!;
    const r = n.op === 'input' ? 4 : rank(nodeInputs(n)[0]);
    let y: string;
    switch (n.op) {
      case 'input':
        y = op('Transpose', [INFERENCE_INPUT], { perm: [0, 3, 1, 2] });
        break;
      case 'conv2d':
      case 'depthwiseConv2d': {
        const k = w(n.name, 'kernel');
        const [kh, kw, cin, m] = k.shape;
        const depthwise = n.op === 'depthwiseConv2d';
        // HWIO → OIHW; depthwise [kh, kw, in, mult] → [in·mult, 1, kh, kw] (output channel i·mult + j).
        const kernel = depthwise
          ? float(permute(k.data, [kh * kw, cin * m], [1, 0]), [cin * m, 1, kh, kw])
          : float(permute(k.data, k.shape, [3, 2, 0, 1]), [m, cin, kh, kw]);
        const inputs = [x, kernel];
        if (n.bias) inputs.push(float(w(n.name, 'bias').data, [w(n.name, 'bias').data.length]));
        const d = n.dilation ?? 1;
        const conv = op('Conv', inputs, {
          kernel_shape: [kh, kw],
          strides: pair(n.strides, 1),
          dilations: [d, d],
          ...(depthwise ? { group: cin } : {}),
          ...padAttrs(n.padding),
        });
        y = activate(n, conv, n.activation, n.alpha);
        break;
      }
      case 'batchNorm': {
        const mean = w(n.name, 'mean').data;
        const C = mean.length;
        const gamma = n.scale === false ? new Float32Array(C).fill(1) : w(n.name, 'gamma').data;
        const beta = n.center === false ? new Float32Array(C) : w(n.name, 'beta').data;
        const c = (d: Float32Array) => float(d, [C]);
        y = op('BatchNormalization', [x, c(gamma), c(beta), c(mean), c(w(n.name, 'variance').data)], {
          epsilon: { float: n.epsilon },
        });
        break;
      }
      case 'affine':
        y = op('Add', [
          op('Mul', [x, perChannel(w(n.name, 'scale').data, r)]),
          perChannel(w(n.name, 'offset').data, r),
        ]);
        break;
      case 'dense': {
        const flat = r === 4 ? flattenNhwc(x) : x;
        const k = w(n.name, 'kernel');
        const kernel = float(k.data, k.shape);
        const z =
          n.bias === false
            ? op('MatMul', [flat, kernel])
            : op('Gemm', [flat, kernel, float(w(n.name, 'bias').data, [n.units])]);
        y = activate(n, z, n.activation, n.alpha);
        break;
      }
      case 'activation':
        y = activate(n, x, n.fn, n.alpha);
        break;
      case 'add': {
        const xs = n.inputs.map((i) => t.get(i)!);
        y = activate(n, xs.length === 2 ? op('Add', xs) : op('Sum', xs), n.activation);
        break;
      }
      case 'concat':
        y = op(
          'Concat',
          n.inputs.map((i) => t.get(i)!),
          { axis: 1 },
        );
        break;
      case 'maxPool':
      case 'avgPool': {
        const attrs: Record<string, AttrValue> = {
          kernel_shape: pair(n.size, 1),
          strides: pair(n.strides, 1),
          ...padAttrs(n.padding),
        };
        // tfjs pads explicit avg-pool padding with zeros that count; TF 'same' leaves them out.
        if (n.op === 'avgPool') attrs.count_include_pad = Array.isArray(n.padding) ? 1 : 0;
        y = op(n.op === 'maxPool' ? 'MaxPool' : 'AveragePool', [x], attrs);
        break;
      }
      case 'globalAvgPool':
        y = op('Flatten', [op('GlobalAveragePool', [x])], { axis: 1 });
        break;
      case 'flatten':
        y = r === 4 ? flattenNhwc(x) : x;
        break;
      case 'pad': {
        if (n.mode === 'symmetric') throw unsupported(n, 'symmetric padding');
        const [[top, bottom], [left, right]] = n.pads;
        y = op('Pad', [x, ints([0, 0, top, left, 0, 0, bottom, right])], { mode: n.mode ?? 'constant' });
        break;
      }
      case 'padChannels': {
        const c = shapes.get(n.input)![2];
        y = op('Pad', [x, ints([0, 0, 0, 0, 0, n.channels - c, 0, 0])]);
        break;
      }
      case 'l2normalize': {
        const ss = op('ReduceSum', [op('Mul', [x, x]), ints([1])], { keepdims: 1 });
        const eps = float(new Float32Array([n.epsilon ?? 1e-12]), []);
        y = op('Div', [x, op('Sqrt', [op('Max', [ss, eps])])]);
        break;
      }
    }
    t.set(n.name, y);
  }

  // Outputs under their node names, maps back in NHWC: the one layout change on the way out.
  const ranks = new Map<string, number>();
  for (const o of outputs) {
    const rk = rank(o);
    ranks.set(o, rk);
    nodes.push({
      op: rk === 4 ? 'Transpose' : 'Identity',
      inputs: [t.get(o)!],
      outputs: [o],
      attrs: rk === 4 ? { perm: [0, 2, 3, 1] } : undefined,
    });
  }
  const model: OnnxModel = {
    opset: 17,
    nodes,
    inputs: [{ name: INFERENCE_INPUT, type: FLOAT, dims: ['N', ih ?? 'H', iw ?? 'W', ic] }],
    outputs: outputs.map((o) => ({ name: o, type: FLOAT })),
    initializers,
  };
  return { model, ranks };
}
