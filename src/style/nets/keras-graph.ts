import { VisageError } from '../../errors.js';
import type { Activation, GraphNode, NetworkDef, WeightMap } from '../../engine/graph/index.js';
import { reachableNames } from '../../engine/graph/reachable.js';
import type { KerasLayer } from './nsfwjs-modules.js';

/**
 * Keras functional-model layers → our NetworkDef, keeping Keras layer names as node names (so taps read
 * like the Keras summary: conv2d_3, activation_3, mixed0, …). Only the layers `outputs` depend on are
 * converted; the layer kinds a convolutional trunk uses are supported, anything else is refused.
 */
export function kerasToNetworkDef(name: string, layers: KerasLayer[], outputs: string[]): NetworkDef {
  const byName = new Map(layers.map((l) => [l.name, l]));
  const inputsOf = (l: KerasLayer): string[] => {
    if (l.inbound_nodes.length > 1)
      throw new VisageError('E_BAD_MODEL', `Keras layer ${l.name} is shared; not supported`);
    return (l.inbound_nodes[0] ?? []).map((t) => t[0]);
  };
  const need = reachableNames(
    outputs,
    (n) => {
      const l = byName.get(n);
      return l && inputsOf(l);
    },
    (n) => new VisageError('E_UNKNOWN_LAYER', `Keras model ${name} has no layer "${n}"`, { layer: n }),
  );
  const nodes: GraphNode[] = [];
  for (const l of layers) {
    if (!need.has(l.name)) continue;
    nodes.push(convertLayer(l, inputsOf(l)));
  }
  return { name, nodes, outputs: [...outputs] };
}

const ACTIVATIONS = new Set<string>(['linear', 'relu', 'relu6', 'sigmoid', 'tanh', 'elu']);

function activation(l: KerasLayer, a: unknown): Activation {
  if (typeof a !== 'string' || !ACTIVATIONS.has(a))
    throw new VisageError('E_BAD_MODEL', `Keras layer ${l.name}: unsupported activation ${String(a)}`);
  return a as Activation;
}

function pairOf(v: unknown): [number, number] {
  const a = v as number[];
  return [a[0], a[1]];
}

function convertLayer(l: KerasLayer, ins: string[]): GraphNode {
  const c = l.config;
  const name = l.name;
  const padding = (): 'same' | 'valid' => {
    if (c.padding !== 'same' && c.padding !== 'valid')
      throw new VisageError('E_BAD_MODEL', `Keras layer ${name}: unsupported padding ${String(c.padding)}`);
    return c.padding;
  };
  if (c.data_format !== undefined && c.data_format !== 'channels_last')
    throw new VisageError('E_BAD_MODEL', `Keras layer ${name}: only channels_last is supported`);
  switch (l.class_name) {
    case 'InputLayer': {
      const s = c.batch_input_shape as Array<number | null>;
      return { op: 'input', name, shape: [null, null, s[3] ?? 3] };
    }
    case 'Conv2D':
      if (pairOf(c.dilation_rate ?? [1, 1]).some((d) => d !== 1))
        throw new VisageError('E_BAD_MODEL', `Keras layer ${name}: dilated convolutions are not supported`);
      return {
        op: 'conv2d',
        name,
        input: ins[0],
        filters: c.filters as number,
        kernel: pairOf(c.kernel_size),
        strides: pairOf(c.strides),
        padding: padding(),
        bias: c.use_bias === true,
        activation: activation(l, c.activation),
      };
    case 'BatchNormalization':
      if (c.axis !== 3 && c.axis !== -1)
        throw new VisageError('E_BAD_MODEL', `Keras layer ${name}: batch-norm over axis ${String(c.axis)}`);
      return {
        op: 'batchNorm',
        name,
        input: ins[0],
        epsilon: c.epsilon as number,
        momentum: c.momentum as number | undefined,
        scale: c.scale !== false,
        center: c.center !== false,
      };
    case 'Activation':
      return { op: 'activation', name, input: ins[0], fn: activation(l, c.activation) };
    case 'MaxPooling2D':
    case 'AveragePooling2D':
      return {
        op: l.class_name === 'MaxPooling2D' ? 'maxPool' : 'avgPool',
        name,
        input: ins[0],
        size: pairOf(c.pool_size),
        strides: pairOf(c.strides ?? c.pool_size),
        padding: padding(),
      };
    case 'Concatenate':
      if (c.axis !== 3 && c.axis !== -1)
        throw new VisageError(
          'E_BAD_MODEL',
          `Keras layer ${name}: concatenation over axis ${String(c.axis)}`,
        );
      return { op: 'concat', name, inputs: ins };
    case 'Add':
      return { op: 'add', name, inputs: ins };
    default:
      throw new VisageError('E_BAD_MODEL', `Keras layer ${name}: unsupported layer class ${l.class_name}`);
  }
}

const ROLE: Record<string, string> = {
  kernel: 'kernel',
  bias: 'bias',
  gamma: 'gamma',
  beta: 'beta',
  moving_mean: 'mean',
  moving_variance: 'variance',
};

/** Keras weight names (`layer/moving_mean`) → ours (`layer/mean`), keeping only the def's nodes. */
export function kerasWeights(def: NetworkDef, keras: WeightMap): WeightMap {
  const nodes = new Set(def.nodes.map((n) => n.name));
  const out: WeightMap = new Map();
  for (const [k, v] of keras) {
    const slash = k.lastIndexOf('/');
    const node = k.slice(0, slash);
    const role = ROLE[k.slice(slash + 1)];
    if (nodes.has(node) && role) out.set(`${node}/${role}`, v);
  }
  return out;
}

/** The node names a Keras def needs weights for (to skip dequantising the rest). */
export function kerasWeightFilter(def: NetworkDef): (weight: string) => boolean {
  const nodes = new Set(def.nodes.map((n) => n.name));
  return (w) => nodes.has(w.slice(0, w.lastIndexOf('/')));
}
