/**
 * Executor-independent network definitions: a network is a list of named nodes (a DAG in topological
 * order) plus a map of named weights. The same definition runs on the tfjs executor today and can be
 * exported to another executor (e.g. onnxruntime) later, because nothing here refers to tfjs.
 *
 * Layout conventions (the canonical ones; loaders convert to them):
 *  - activations NHWC; conv kernels HWIO [kh, kw, in, out]; depthwise kernels [kh, kw, in, multiplier];
 *    dense kernels [in, out].
 *  - weight names are `<node>/<role>`, roles: kernel, bias, gamma, beta, mean, variance, scale, offset, alpha.
 */
export type Padding = 'same' | 'valid' | [[number, number], [number, number]];
export type Activation = 'linear' | 'relu' | 'relu6' | 'leakyRelu' | 'sigmoid' | 'tanh' | 'elu';
type Pair = number | [number, number];

interface Base {
  name: string;
}
interface Unary extends Base {
  input: string;
}

export interface InputNode extends Base {
  op: 'input';
  /** [H, W, C]; the batch dimension is implicit. Null for H/W means "any size". */
  shape: [number | null, number | null, number];
}
export interface Conv2dNode extends Unary {
  op: 'conv2d';
  filters: number;
  kernel: Pair;
  strides?: Pair;
  padding: Padding;
  dilation?: number;
  bias?: boolean;
  activation?: Activation;
  alpha?: number;
}
export interface DepthwiseConv2dNode extends Unary {
  op: 'depthwiseConv2d';
  kernel: Pair;
  multiplier?: number;
  strides?: Pair;
  padding: Padding;
  dilation?: number;
  bias?: boolean;
  activation?: Activation;
  alpha?: number;
}
/** Batch normalisation; weights mean, variance and optionally gamma (scale) and beta (center). */
export interface BatchNormNode extends Unary {
  op: 'batchNorm';
  epsilon: number;
  /** Moving-average momentum used in training mode (Keras convention: new = m·old + (1−m)·batch). */
  momentum?: number;
  scale?: boolean;
  center?: boolean;
}
/** Per-channel y = x·scale + offset (dlib "affine" layers, folded batch-norm). */
export interface AffineNode extends Unary {
  op: 'affine';
}
export interface DenseNode extends Unary {
  op: 'dense';
  units: number;
  bias?: boolean;
  activation?: Activation;
  alpha?: number;
}
export interface ActivationNode extends Unary {
  op: 'activation';
  fn: Activation;
  alpha?: number;
}
export interface AddNode extends Base {
  op: 'add';
  inputs: string[];
  activation?: Activation;
}
export interface ConcatNode extends Base {
  op: 'concat';
  inputs: string[];
}
export interface PoolNode extends Unary {
  op: 'maxPool' | 'avgPool';
  size: Pair;
  strides?: Pair;
  padding: Padding;
}
export interface GlobalAvgPoolNode extends Unary {
  op: 'globalAvgPool';
}
export interface FlattenNode extends Unary {
  op: 'flatten';
}
export interface PadNode extends Unary {
  op: 'pad';
  pads: [[number, number], [number, number]];
  mode?: 'constant' | 'reflect' | 'symmetric';
}
/** Zero-pads the channel axis up to `channels` (parameter-free shortcut of ResNets). */
export interface PadChannelsNode extends Unary {
  op: 'padChannels';
  channels: number;
}
export interface L2NormalizeNode extends Unary {
  op: 'l2normalize';
  epsilon?: number;
}

export type GraphNode =
  | InputNode
  | Conv2dNode
  | DepthwiseConv2dNode
  | BatchNormNode
  | AffineNode
  | DenseNode
  | ActivationNode
  | AddNode
  | ConcatNode
  | PoolNode
  | GlobalAvgPoolNode
  | FlattenNode
  | PadNode
  | PadChannelsNode
  | L2NormalizeNode;

export interface NetworkDef {
  /** Stable identifier of the architecture, e.g. "dlib-resnet34" or "visage-cnn-w32-d4". */
  name: string;
  nodes: GraphNode[];
  /** Default outputs (taps can be requested by node name at run time). */
  outputs: string[];
}

export interface WeightTensor {
  shape: number[];
  data: Float32Array;
}
export type WeightMap = Map<string, WeightTensor>;

export function nodeInputs(n: GraphNode): string[] {
  if (n.op === 'input') return [];
  if (n.op === 'add' || n.op === 'concat') return n.inputs;
  return [n.input];
}

export function pair(p: Pair | undefined, dflt: number): [number, number] {
  if (p === undefined) return [dflt, dflt];
  return typeof p === 'number' ? [p, p] : p;
}
