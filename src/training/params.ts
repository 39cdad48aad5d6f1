import { VisageError } from '../errors.js';
import { weightSpecs, type NetworkDef, type WeightMap } from '../engine/graph/index.js';

export interface ParamEntry {
  name: string;
  shape: number[];
  /** Offset (in floats) in the flat vector. */
  offset: number;
  size: number;
  /** Learned by gradient descent (everything but batch-norm moving statistics and frozen nodes). */
  trainable: boolean;
  /** Subject to weight decay: kernels only (not biases, batch-norm or affine parameters). */
  decay: boolean;
  /**
   * How a conv kernel (canonical shape [kh, kw, in, out]) is laid out in the flat vector: 'oihw' for an
   * engine that convolves in that order (onnxruntime), so that no step has to transpose it. The
   * optimisers are element-wise, so they do not care; pack() and unpack() convert.
   */
  order?: 'oihw';
}

/** A [kh, kw, in, out] kernel's values in [out, in, kh, kw] order, or back (`inverse`). */
export function permuteKernel(src: Float32Array, shape: number[], inverse = false): Float32Array {
  const [kh, kw, I, O] = shape;
  const K = kh * kw;
  const out = new Float32Array(src.length);
  for (let k = 0; k < K; k++)
    for (let i = 0; i < I; i++)
      for (let o = 0; o < O; o++) {
        const hwio = (k * I + i) * O + o;
        const oihw = (o * I + i) * K + k;
        if (inverse) out[hwio] = src[oihw];
        else out[oihw] = src[hwio];
      }
  return out;
}

const MOVING = new Set(['mean', 'variance']);

/**
 * All of a network's weights as one flat Float32Array: trainable weights first (so that gradients and
 * optimiser state cover a prefix), then batch-norm moving statistics. One flat vector is what the
 * optimiser updates and what data-parallel workers share.
 */
export class ParamLayout {
  readonly entries: ParamEntry[];
  readonly trainableSize: number;
  readonly totalSize: number;
  private readonly byName: Map<string, ParamEntry>;

  constructor(entries: ParamEntry[]) {
    this.entries = entries;
    this.byName = new Map(entries.map((e) => [e.name, e]));
    this.trainableSize = entries.filter((e) => e.trainable).reduce((s, e) => s + e.size, 0);
    this.totalSize = entries.reduce((s, e) => s + e.size, 0);
  }

  /**
   * `frozen` names nodes whose weights are constants (fine-tuning with frozen blocks): they sit after the
   * trainable prefix, so no gradient is computed for them and the optimiser never sees them. Entries keep
   * the unfrozen order (weights, then moving statistics), so a model's weights unpack the same either way.
   */
  static of(
    def: NetworkDef,
    input: [number, number, number],
    frozen: Iterable<string> = [],
    opts: { convKernels?: 'hwio' | 'oihw' } = {},
  ): ParamLayout {
    const convs = new Set(def.nodes.filter((n) => n.op === 'conv2d').map((n) => `${n.name}/kernel`));
    const fixed = new Set(frozen);
    const learned = (s: { name: string; role: string }) =>
      !MOVING.has(s.role) && !fixed.has(s.name.slice(0, s.name.lastIndexOf('/')));
    const specs = weightSpecs(def, input);
    const ordered = [...specs.filter((s) => !MOVING.has(s.role)), ...specs.filter((s) => MOVING.has(s.role))];
    const sizeOf = (s: { shape: number[] }) => s.shape.reduce((a, b) => a * b, 1);
    const offsets = new Map<string, number>();
    let offset = 0;
    for (const s of [...ordered.filter(learned), ...ordered.filter((x) => !learned(x))]) {
      offsets.set(s.name, offset);
      offset += sizeOf(s);
    }
    return new ParamLayout(
      ordered.map((s) => {
        const trainable = learned(s);
        return {
          name: s.name,
          shape: s.shape,
          offset: offsets.get(s.name)!,
          size: sizeOf(s),
          trainable,
          decay: trainable && s.role === 'kernel',
          ...(opts.convKernels === 'oihw' && convs.has(s.name) ? { order: 'oihw' as const } : {}),
        };
      }),
    );
  }

  get(name: string): ParamEntry | undefined {
    return this.byName.get(name);
  }

  /** Copy a WeightMap into a flat vector (a new one, or `into`, e.g. shared memory). */
  pack(weights: WeightMap, into: Float32Array = new Float32Array(this.totalSize)): Float32Array {
    for (const e of this.entries) {
      const w = weights.get(e.name);
      if (!w || w.data.length !== e.size)
        throw new VisageError(
          'E_BAD_WEIGHTS',
          w
            ? `weight ${e.name} has ${w.data.length} values, expected ${e.size}`
            : `weight ${e.name} is missing`,
        );
      into.set(e.order ? permuteKernel(w.data, e.shape) : w.data, e.offset);
    }
    return into;
  }

  /** A WeightMap holding copies of the flat vector's weights. */
  unpack(flat: Float32Array): WeightMap {
    const out: WeightMap = new Map();
    for (const e of this.entries) {
      const data = flat.slice(e.offset, e.offset + e.size);
      out.set(e.name, { shape: [...e.shape], data: e.order ? permuteKernel(data, e.shape, true) : data });
    }
    return out;
  }

  /** 1 for trainable parameters that weight decay applies to. */
  decayMask(): Uint8Array {
    const m = new Uint8Array(this.trainableSize);
    for (const e of this.entries) if (e.trainable && e.decay) m.fill(1, e.offset, e.offset + e.size);
    return m;
  }
}
